#include "cli/train_dist.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "dist/agreement.h"
#include "dist/data_parallel.h"
#include "dist/launch.h"
#include "dist/mpi_communicator.h"

namespace torchless::cli {
namespace {

std::string num(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string data_id(const io::Dataset& d) {
  if (d.size() == 0) return "0 images";
  return std::to_string(d.size()) + " images, fingerprint " +
         dist::hex64(dist::fingerprint(d.labels, dist::fingerprint(d.images)));
}

}  // namespace

int run_with_ranks(double timeout_s, const std::function<int(dist::Communicator*)>& body) {
  const int world = dist::launched_world_size();
  if (world == 1) return body(nullptr);
  if (!dist::mpi_built())
    throw std::runtime_error("started by mpirun as one of " + std::to_string(world) +
                             " ranks, but this torchless was built without MPI (-DTORCHLESS_MPI=OFF)");
  dist::MpiCommunicator comm(std::chrono::milliseconds(static_cast<int64_t>(std::ceil(timeout_s * 1000))));
  const int rank = comm.rank();
  // One copy of the run's report: rank 0's. Errors (stderr) come from every rank.
  if (rank != 0 && !std::freopen("/dev/null", "w", stdout))
    std::fprintf(stderr, "torchless train: rank %d: cannot silence stdout\n", rank);
  try {
    return body(&comm);
  } catch (const dist::DisagreementError& e) {
    if (rank == 0) std::fprintf(stderr, "torchless train: error: %s\n", printable(e.what()).c_str());
    return 1;  // every rank threw it at the same point: all finalise, no abort needed
  } catch (const UsageError& e) {
    std::fprintf(stderr, "torchless train: rank %d of %d: %s\n", rank, world, printable(e.what()).c_str());
    comm.abort(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchless train: rank %d of %d: error: %s\n", rank, world, printable(e.what()).c_str());
    comm.abort(1);
  }
}

void agree_and_sync(dist::Communicator& comm, const TrainOptions& o, const optim::HyperParams& hp, int64_t start_epoch,
                    double valid_loss_min, const io::Dataset& train, const io::Dataset& valid, const io::Dataset& test,
                    nn::Module& model, optim::Adam& opt, const Generator& gen) {
  dist::RunDescription d;
  d.add("--epochs", std::to_string(o.epochs));
  d.add("the start epoch (--resume)", std::to_string(start_epoch));
  d.add("--batch-size", std::to_string(hp.batch_size));
  d.add("--lr", num(hp.lr));
  d.add("--dropout", num(hp.dropout));
  d.add("--seed", std::to_string(hp.seed));
  d.add("--validation", hp.validation);
  d.add("--freeze", "[" + join_list(hp.frozen) + "]");
  d.add("--warmup-epochs", std::to_string(o.warmup));
  d.add("--flush-denormal", o.flush_denormal ? "on" : "off");
  d.add("--device", o.device);
  d.add("the training images (--data, --train-size)", data_id(train));
  d.add("the validation images (--data, --validation, --valid-size)", data_id(valid));
  d.add("the test images (--data)", data_id(test));
  uint64_t h = 0;
  for (const auto& [name, t] : model.named_parameters()) h = dist::fingerprint(t, dist::fingerprint(name.data(), name.size(), h));
  for (const auto& [name, t] : model.named_buffers()) h = dist::fingerprint(t, dist::fingerprint(name.data(), name.size(), h));
  d.add("the model's weights (--seed, --init, --resume)", "fingerprint " + dist::hex64(h));
  h = 0;
  for (size_t i = 0; i < opt.num_params(); ++i) {
    const optim::AdamParamState& s = opt.state(i);
    h = dist::fingerprint(&s.step, sizeof s.step, h);
    for (const Tensor* t : {&s.exp_avg, &s.exp_avg_sq, &s.max_exp_avg_sq}) h = dist::fingerprint(*t, h);
  }
  d.add("the optimizer state (--resume)", "fingerprint " + dist::hex64(h));
  const std::string rng = gen.get_state();
  d.add("the generator state (--seed, --resume)", "fingerprint " + dist::hex64(dist::fingerprint(rng.data(), rng.size())));
  d.add("valid_loss_min (--resume)", num(valid_loss_min));
  dist::check_agreement(comm, d);
  // The same already (checked above); rank 0's copy makes it so by construction.
  dist::broadcast_training_state(comm, model, opt);
}

}  // namespace torchless::cli
