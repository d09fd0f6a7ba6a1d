#pragma once
// Tensor: a cheap handle (shared_ptr) over a Storage with dtype, sizes, strides
// and storage offset. View ops return tensors over the same Storage, exactly
// as torch does (and as torch files describe them).
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace torchless {

struct Node;  // autograd graph node (core/autograd.h)

struct TensorImpl {
  Storage storage;
  DType dtype = DType::Float32;
  Shape sizes;
  Shape strides;
  int64_t offset = 0;  // in elements
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  /// A tensor over `storage` with the given geometry. Throws std::out_of_range
  /// if the geometry reaches outside the storage.
  Tensor(Storage storage, DType dtype, Shape sizes, Shape strides, int64_t offset);

  bool defined() const { return impl_ != nullptr; }
  const Shape& sizes() const { return impl().sizes; }
  const Shape& shape() const { return impl().sizes; }
  const Shape& strides() const { return impl().strides; }
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(impl().sizes.size()); }
  int64_t numel() const { return shape_numel(impl().sizes); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage.device(); }
  const Storage& storage() const { return impl().storage; }
  int64_t storage_offset() const { return impl().offset; }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(dtype()); }

  /// Pointer to element [0,...,0]. Checks the dtype matches T.
  template <typename T> T* data_ptr() const;
  void* raw_data() const;
  /// The single value of a one-element tensor, converted to double.
  /// Throws std::invalid_argument if numel() != 1.
  double item() const;

  // ---- views (share storage) ----
  Tensor view(Shape shape) const;           ///< needs compatible strides; -1 infers one size
  Tensor reshape(Shape shape) const;        ///< view when possible, else copies
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;                         ///< 2-D transpose
  Tensor permute(const Shape& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(Shape shape) const;         ///< -1 keeps a size; broadcasts size-1 dims
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor as_strided(Shape sizes, Shape strides, int64_t offset) const;

  // ---- copies and conversions ----
  Tensor contiguous() const;                ///< self if already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;             ///< self if same dtype
  Tensor to(Device device) const;           ///< self if same device
  /// Copies `src` (broadcast to this shape, any dtype/device) into this tensor.
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  /// Values as doubles in row-major order (any dtype; complex gives real parts).
  std::vector<double> to_vector() const;

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  /// Marks a leaf as needing (or not) a gradient. Throws on non-leaf tensors.
  Tensor& set_requires_grad(bool r = true);
  /// Accumulated gradient; undefined Tensor if none yet.
  Tensor grad() const;
  void set_grad(const Tensor& g);
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  /// Reverse-mode: accumulates d(this)/d(leaf) into every leaf's grad.
  /// `this` must be a scalar unless `grad_output` is given.
  void backward(const Tensor& grad_output = Tensor()) const;
  /// Same storage, cut from the graph, requires_grad false.
  Tensor detach() const;

  // ---- arithmetic sugar (see core/ops.h) ----
  Tensor operator-() const;

  TensorImpl& impl() const {
    if (!impl_) throw std::logic_error("torchless: use of an undefined Tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// Printable summary: "tensor([[1, 2], [3, 4]], dtype=float32)" (elided when large).
std::string to_string(const Tensor& t, int64_t max_elements = 12);

// ---- factories ----
Tensor empty(Shape shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor zeros(Shape shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor ones(Shape shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor full(Shape shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32);
Tensor scalar_tensor(double value, DType dtype = DType::Float32);
/// Copies `values` (row-major) into a new tensor of `shape` and dtype.
Tensor from_vector(const std::vector<double>& values, Shape shape, DType dtype = DType::Float32);
Tensor from_vector(const std::vector<float>& values, Shape shape);
/// Copies `nbytes(shape,dtype)` bytes from `data` into a new CPU tensor.
Tensor from_blob(const void* data, Shape shape, DType dtype);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::Int32; }
template <> constexpr DType dtype_of<int16_t>() { return DType::Int16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::Int8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::UInt8; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

void check_dtype(const Tensor& t, DType expected, const char* what);

template <typename T> T* Tensor::data_ptr() const {
  check_dtype(*this, dtype_of<T>(), "data_ptr");
  return static_cast<T*>(raw_data());
}

}  // namespace torchless
