// Links tapegrad::distributed from another project. Without mpirun no Session is created: the
// process is a world of one, and shard() returns the whole batch. Built twice: with the header
// path and target name, and with the deprecated <tapegrad/dist/dist.hpp> and tapegrad::dist.
#ifdef TG_CONSUMER_OLD_HEADER_PATH
#include <tapegrad/dist/dist.hpp>
#else
#include <tapegrad/distributed/dist.hpp>
#endif
#include <tapegrad.hpp>

int main() {
    if (tg::dist::is_initialized() || tg::dist::world_size() != 1 || tg::dist::rank() != 0) return 1;
    const tg::Tensor batch = tg::Tensor::ones({4, 3});
    if (!tg::dist::shard(batch).is_same(batch)) return 1;
    fmt::print("consumer_dist ok: world of {}\n", tg::dist::world_size());
    return 0;
}
