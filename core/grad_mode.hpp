#pragma once
// Grad mode: whether ops on this thread record themselves on the tape. On by default.
namespace tg {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// While alive, ops on this thread run forward only and record nothing.
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool prev_;
};

}  // namespace tg
