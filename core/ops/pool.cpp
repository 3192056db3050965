// Pooling: max_pool2d and avg_pool2d.
