#pragma once
/// \file
/// Grad mode: whether ops on this thread record themselves on the tape. On by default.
namespace tg {

/// Whether grad mode is on for this thread (torch.is_grad_enabled).
bool is_grad_enabled();
/// Turns grad mode on or off for this thread (torch.set_grad_enabled); the guards below
/// restore the previous mode by themselves.
void set_grad_enabled(bool enabled);

/// While alive, ops on this thread run forward only and record nothing.
class NoGradGuard {
public:
    /// Turns grad mode off until destruction.
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool prev_;
};

/// While alive, grad mode on this thread is `enabled`; the previous mode comes back after
/// (libtorch's AutoGradMode). Backward passes use it, and so can a function that takes
/// gradients itself while its caller may have grad mode off.
class GradModeGuard {
public:
    /// Sets grad mode to `enabled` until destruction.
    explicit GradModeGuard(bool enabled);
    ~GradModeGuard();
    GradModeGuard(const GradModeGuard&) = delete;
    GradModeGuard& operator=(const GradModeGuard&) = delete;

private:
    bool prev_;
};

}  // namespace tg
