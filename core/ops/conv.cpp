// Convolution: conv1d and conv2d.
