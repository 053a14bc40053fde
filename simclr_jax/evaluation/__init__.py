"""Downstream evaluation of the representation h: linear probe, k-NN, fine-tuning."""
