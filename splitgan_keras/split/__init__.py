"""Class splitting, the algorithm: the feature pass, the rule (what to split), tree allocation, surgery on the model, and the step that runs them."""
