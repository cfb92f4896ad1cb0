"""Image datasets: uint8 images for pretraining, labelled splits for evaluation."""
