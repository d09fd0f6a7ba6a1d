#include "dist/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "dist/agreement.h"
#include "nn/functional.h"

namespace torchless::dist {

void check_global_batch(int64_t batch_size, int world) {
  if (world < 1) throw std::invalid_argument("data-parallel: world size must be positive");
  if (batch_size % world == 0) return;
  const int64_t down = batch_size / world * world, up = down + world;
  throw std::invalid_argument("--batch-size " + std::to_string(batch_size) +
                              " is the global batch, and it does not split evenly over the " + std::to_string(world) +
                              " ranks (each takes batch / ranks items); pass --batch-size " +
                              (down > 0 ? std::to_string(down) + " or " : std::string()) + std::to_string(up));
}

uint64_t rank_stream_seed(uint64_t epoch_key, int rank) {
  // splitmix64's finaliser of key + (rank + 1) * golden ratio: distinct
  // ranks get unrelated seeds, and the stream depends only on the epoch's
  // shared draw and the rank (not on the world size).
  uint64_t z = epoch_key + (static_cast<uint64_t>(rank) + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

GradientBucket::GradientBucket(const std::vector<Tensor>& params) : fault_(TestFault::from_env()) {
  size_t n = 0;
  for (const Tensor& p : params) {
    if (!p.requires_grad()) continue;
    if (p.dtype() != DType::Float32)
      throw std::invalid_argument("data-parallel: only float32 parameters are supported, got " +
                                  std::string(dtype_name(p.dtype())));
    params_.push_back(p);
    n += static_cast<size_t>(p.numel());
  }
  buf_.assign(n + 1, 0.0f);
}

double GradientBucket::all_reduce(Communicator& comm, float scale, double loss) {
  ++steps_;
  fault_.maybe_fire(comm.rank(), steps_);
  float* at = buf_.data();
  for (const Tensor& p : params_) {
    const size_t n = static_cast<size_t>(p.numel());
    if (const Tensor g = p.grad(); g.defined()) {
      const Tensor gc = g.contiguous();  // itself: autograd's gradients are contiguous
      const float* src = gc.data_ptr<float>();
      for (size_t i = 0; i < n; ++i) at[i] = src[i] * scale;
    } else {
      std::fill(at, at + n, 0.0f);  // a rank with no items in this batch
    }
    at += n;
  }
  buf_.back() = static_cast<float>(loss);
  const auto t0 = std::chrono::steady_clock::now();
  comm.all_reduce_sum(buf_.data(), buf_.size(), "gradient all-reduce");
  reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  at = buf_.data();
  for (Tensor& p : params_) {
    const size_t n = static_cast<size_t>(p.numel());
    Tensor g = p.grad();
    if (!g.defined() || !g.is_contiguous() || g.dtype() != DType::Float32) {
      g = empty(p.sizes(), DType::Float32);
      p.set_grad(g);
    }
    std::memcpy(g.data_ptr<float>(), at, n * sizeof(float));
    at += n;
  }
  return buf_.back();
}

optim::EpochStats train_epoch(Communicator& comm, nn::Module& model, optim::Adam& opt, GradientBucket& bucket,
                              const io::Dataset& data, int64_t batch_size, Generator& gen,
                              const optim::BatchCallback& on_batch) {
  const int world = comm.size(), rank = comm.rank();
  check_global_batch(batch_size, world);
  model.train();
  const int64_t n = data.size();
  const Tensor order = randperm(n, &gen);
  const int64_t* idx = static_cast<const int64_t*>(order.raw_data());
  // The shared stream resumes after the epoch; meanwhile the model's
  // dropout draws from this rank's own stream, seeded from the shared
  // state without drawing from it (so without dropout the shuffles are a
  // single process's, epoch after epoch).
  const std::string shared = gen.get_state();
  gen.manual_seed(rank_stream_seed(fingerprint(shared.data(), shared.size()), rank));
  std::vector<int64_t> mine(static_cast<size_t>(batch_size / world + 1));
  double loss_sum = 0;
  int64_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    const int64_t m = shard_count(b, rank, world);
    for (int64_t j = 0; j < m; ++j) mine[j] = idx[start + rank + j * world];
    opt.zero_grad();
    double local_loss = 0;
    if (m > 0) {
      Tensor x = optim::gather_rows(data.images, mine.data(), m);
      Tensor y = optim::gather_rows(data.labels, mine.data(), m);
      Tensor loss = nn::functional::cross_entropy(model(x), y);
      loss.backward();
      local_loss = loss.item() * static_cast<double>(m);
    }
    loss_sum += bucket.all_reduce(comm, static_cast<float>(m) / static_cast<float>(b), local_loss);
    opt.step();
    done += b;
    if (on_batch) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      on_batch(done, loss_sum / static_cast<double>(done), s > 0 ? static_cast<double>(done) / s : 0.0);
    }
  }
  gen.set_state(shared);
  optim::EpochStats st;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.loss = done ? loss_sum / static_cast<double>(done) : 0.0;
  st.samples_per_s = st.seconds > 0 ? static_cast<double>(done) / st.seconds : 0.0;
  return st;
}

optim::EvalStats evaluate(Communicator& comm, nn::Module& model, const io::Dataset& data, int64_t classes,
                          int64_t batch_size) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const int64_t n = data.size();
  const int64_t batches = (n + batch_size - 1) / batch_size;
  const size_t cells = static_cast<size_t>(classes * classes);
  // [per-batch loss x size | correct | confusion]: doubles hold the counts exactly.
  std::vector<double> sums(static_cast<size_t>(batches) + 1 + cells, 0.0);
  std::vector<int64_t> confusion(cells, 0);
  int64_t correct = 0;
  for (int64_t k = comm.rank(); k < batches; k += comm.size()) {
    const int64_t start = k * batch_size;
    sums[k] = optim::evaluate_batch(model, data.slice(start, std::min(batch_size, n - start)), classes, correct,
                                    confusion);
  }
  sums[batches] = static_cast<double>(correct);
  for (size_t i = 0; i < cells; ++i) sums[batches + 1 + i] = static_cast<double>(confusion[i]);
  comm.all_reduce_sum(sums.data(), sums.size(), "validation all-reduce");
  optim::EvalStats st;
  st.classes = classes;
  double loss_sum = 0;
  for (int64_t k = 0; k < batches; ++k) loss_sum += sums[k];  // batch order, as optim::evaluate adds
  st.confusion.resize(cells);
  for (size_t i = 0; i < cells; ++i) st.confusion[i] = static_cast<int64_t>(sums[batches + 1 + i]);
  st.loss = n ? loss_sum / static_cast<double>(n) : 0.0;
  st.accuracy = n ? sums[batches] / static_cast<double>(n) : 0.0;
  model.train(was_training);
  return st;
}

namespace {
void broadcast_tensor(Communicator& comm, const Tensor& t, const char* what) {
  if (!t.defined()) return;
  if (!t.is_contiguous()) throw std::invalid_argument(std::string("data-parallel: ") + what + ": not contiguous");
  if (t.dtype() == DType::Float32)
    comm.broadcast(t.data_ptr<float>(), static_cast<size_t>(t.numel()), 0, what);
  else
    comm.broadcast_bytes(t.raw_data(), t.nbytes(), 0, what);
}
}  // namespace

void broadcast_training_state(Communicator& comm, nn::Module& model, optim::Adam& opt) {
  for (const auto& [name, t] : model.named_parameters()) broadcast_tensor(comm, t, "parameter broadcast");
  for (const auto& [name, t] : model.named_buffers()) broadcast_tensor(comm, t, "buffer broadcast");
  for (size_t i = 0; i < opt.num_params(); ++i) {
    optim::AdamParamState& s = opt.state(i);
    comm.broadcast_bytes(&s.step, sizeof s.step, 0, "optimizer state broadcast");
    broadcast_tensor(comm, s.exp_avg, "optimizer state broadcast");
    broadcast_tensor(comm, s.exp_avg_sq, "optimizer state broadcast");
    broadcast_tensor(comm, s.max_exp_avg_sq, "optimizer state broadcast");
  }
}

}  // namespace torchless::dist
