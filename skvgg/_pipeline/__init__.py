"""How images become network inputs and descriptors: view plans, batches, devices."""
