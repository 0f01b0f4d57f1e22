"""The networks: the paper's configurations, the VGG module, its weights and builder."""
