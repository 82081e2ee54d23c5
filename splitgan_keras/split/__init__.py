"""Class splitting: the rule (what to split), tree allocation, surgery on the model, orchestration, records."""
