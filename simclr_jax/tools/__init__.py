"""Command-line helpers that are not training: e.g. `show_augmentations`."""
