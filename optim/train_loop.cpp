#include "optim/train_loop.h"

#include <chrono>
#include <algorithm>
#include <cstring>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "nn/functional.h"
#include "optim/to_device.h"

namespace torchless::optim {

Tensor gather_rows(const Tensor& src, const int64_t* index, int64_t n) {
  Shape shape = src.sizes();
  shape[0] = n;
  Tensor out = empty(shape, src.dtype());
  const Tensor s = src.contiguous();
  const size_t row_bytes = static_cast<size_t>(s.numel() / std::max<int64_t>(s.size(0), 1)) * element_size(s.dtype());
  const char* from = static_cast<const char*>(s.raw_data());
  char* to = static_cast<char*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i)
    if (index[i] < 0 || index[i] >= s.size(0))
      throw std::out_of_range("gather_rows: index " + std::to_string(index[i]) + " out of range");
  // Rows come from random places of a big data set: the copy waits on
  // memory, so every core fetches its share.
#pragma omp parallel for schedule(static) if (n * row_bytes >= (size_t{256} << 10))
  for (int64_t i = 0; i < n; ++i) std::memcpy(to + i * row_bytes, from + index[i] * row_bytes, row_bytes);
  return out;
}

EpochStats train_epoch(nn::Module& model, Adam& opt, const io::Dataset& data, int64_t batch_size, Generator& gen,
                       const BatchCallback& on_batch) {
  model.train();
  const int64_t n = data.size();
  const Tensor order = randperm(n, &gen);
  const int64_t* idx = static_cast<const int64_t*>(order.raw_data());
  // Batches are gathered on the CPU and copied to the model's device (a
  // device-resident data set and gather are not written yet).
  const Device dev = model_device(model);
  double loss_sum = 0;
  int64_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    Tensor x = gather_rows(data.images, idx + start, b).to(dev);
    Tensor y = gather_rows(data.labels, idx + start, b).to(dev);
    Tensor loss = nn::functional::cross_entropy(model(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    loss_sum += loss.item() * static_cast<double>(b);
    done += b;
    if (on_batch) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      on_batch(done, loss_sum / static_cast<double>(done), s > 0 ? static_cast<double>(done) / s : 0.0);
    }
  }
  EpochStats st;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.loss = done ? loss_sum / static_cast<double>(done) : 0.0;
  st.samples_per_s = st.seconds > 0 ? static_cast<double>(done) / st.seconds : 0.0;
  return st;
}

double evaluate_batch(nn::Module& model, const io::Dataset& batch, int64_t classes, int64_t& correct,
                      std::vector<int64_t>& confusion) {
  const int64_t b = batch.size();
  const Device dev = model_device(model);
  Tensor logits = model(batch.images.to(dev));
  const double loss = nn::functional::cross_entropy(logits, batch.labels.to(dev)).item() * static_cast<double>(b);
  Tensor pred = argmax(logits, 1).to(Device::cpu());
  const int64_t* p = static_cast<const int64_t*>(pred.raw_data());
  const Tensor labels = batch.labels.contiguous();
  const int64_t* y = static_cast<const int64_t*>(labels.raw_data());
  for (int64_t i = 0; i < b; ++i) {
    correct += p[i] == y[i];
    if (y[i] >= 0 && y[i] < classes && p[i] >= 0 && p[i] < classes) ++confusion[y[i] * classes + p[i]];
  }
  return loss;
}

EvalStats evaluate(nn::Module& model, const io::Dataset& data, int64_t classes, int64_t batch_size) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  EvalStats st;
  st.classes = classes;
  st.confusion.assign(static_cast<size_t>(classes * classes), 0);
  double loss_sum = 0;
  int64_t correct = 0;
  const int64_t n = data.size();
  for (int64_t start = 0; start < n; start += batch_size)
    loss_sum += evaluate_batch(model, data.slice(start, std::min(batch_size, n - start)), classes, correct, st.confusion);
  st.loss = n ? loss_sum / static_cast<double>(n) : 0.0;
  st.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
  model.train(was_training);
  return st;
}

}  // namespace torchless::optim
