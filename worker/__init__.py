"""asktell workers: pull a suggestion, train a model, report back."""
