"""Score a policy's answers the way the three papers report them: accuracy, F1, F1-macro, Balance Score, tests."""
