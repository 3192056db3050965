// Losses: mse_loss, nll_loss, binary_cross_entropy_with_logits and cross_entropy with
// ignore_index and label smoothing.
