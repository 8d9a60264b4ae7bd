"""Public verification (opt-in): signed checkpoints, the verifier key and inclusion proofs."""
