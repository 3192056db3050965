// docs/distributed.md's program: a GPT trained data-parallel, one slice of each global batch per
// rank, gradients averaged by DataParallel during backward. Run it under mpirun:
//   mpirun -np 2 build/examples/distributed_example
// (started alone it is a world of one). A test runs it under mpiexec -n 2 and checks the loss.
#include <tapegrad/distributed/dist.hpp>  // link tapegrad::distributed
#include <tapegrad.hpp>
using namespace tg;

int main(int argc, char** argv) {
    tg::dist::Session mpi(&argc, &argv);        // MPI_Init_thread ... MPI_Finalize
    return tg::dist::run([&] {                  // an exception on any rank stops every rank
        nn::GPT model(nn::GPTConfig{.vocab_size = 16, .context_length = 8, .d_model = 32});
        optim::AdamW opt(model.parameters(), {.lr = 3e-3});
        tg::dist::DataParallel ddp(model);      // rank 0's weights everywhere; buckets planned
        Generator gen(1);                       // the same global batches on every rank
        for (int64_t step = 0; step <= 40; ++step) {
            Tensor x = Tensor::randint(0, 16, {16, 8}, gen), y = x;  // learn to copy the token
            opt.zero_grad();
            Tensor loss = model.loss(tg::dist::shard(x), tg::dist::shard(y));
            loss.backward();
            ddp.synchronize();                  // every .grad is the average over the ranks
            opt.step();
            tg::dist::all_reduce(loss, tg::dist::ReduceOp::average);  // the whole batch's loss
            if (tg::dist::rank() == 0 && step % 20 == 0)
                fmt::print("step {:2d}  loss {:.4f}  ({} ranks)\n", step, loss.item<double>(), tg::dist::world_size());
        }
        return 0;
    });
}
