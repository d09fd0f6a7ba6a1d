#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <numeric>
#include <sstream>

#include "core/autograd.h"
#include "core/cpu/copy.h"
#include "core/cpu/dispatch.h"
#include "core/ops.h"
#ifdef TORCHLESS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace torchless {
namespace {

// Highest element offset reached by a geometry (offset itself when empty).
bool geometry_fits(const Shape& sizes, const Shape& strides, int64_t offset, size_t storage_elems) {
  if (offset < 0) return false;
  int64_t hi = offset;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0 || strides[i] < 0) return false;
    if (sizes[i] == 0) return true;  // empty: nothing is read
    if (strides[i] != 0 && (sizes[i] - 1) > (INT64_MAX - hi) / strides[i]) return false;
    hi += (sizes[i] - 1) * strides[i];
  }
  return static_cast<uint64_t>(hi) < storage_elems || (storage_elems == 0 && shape_numel(sizes) == 0);
}

Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->dtype = base.dtype();
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  return Tensor(std::move(impl));
}

// Records a view's backward: rebuild the gradient of the base from the view's.
void record_view(Tensor& out, const Tensor& base, const char* name,
                 std::function<Tensor(const Tensor&)> grad_to_base) {
  if (!any_requires_grad({&base})) return;
  record(out, name, {base}, [g2b = std::move(grad_to_base)](const Tensor& g) {
    return std::vector<Tensor>{g2b(g)};
  });
}

// Gradient of a slicing view: zeros of the base's shape with `g` written
// through the same view.
template <typename ViewFn>
std::function<Tensor(const Tensor&)> scatter_back(const Tensor& base, ViewFn view) {
  const Shape shape = base.sizes();
  const DType dtype = base.dtype();
  const Device dev = base.device();
  return [shape, dtype, dev, view](const Tensor& g) {
    Tensor z = zeros(shape, dtype, dev);
    Tensor v = view(z);
    v.copy_(g);
    return z;
  };
}

// Infers a -1 in `shape` from numel.
Shape infer_size(Shape shape, int64_t numel) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("view: only one dimension can be -1");
      infer = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      throw std::invalid_argument("view: invalid size " + std::to_string(shape[i]));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw std::invalid_argument("view: shape " + shape_str(shape) + " is invalid for " +
                                  std::to_string(numel) + " elements");
    shape[infer] = numel / known;
  } else if (known != numel) {
    throw std::invalid_argument("view: shape " + shape_str(shape) + " is invalid for " +
                                std::to_string(numel) + " elements");
  }
  return shape;
}

// Strides for viewing (sizes, strides) as `shape` without copying, if possible
// (torch's computeStride: each run of merged dims must be contiguous).
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& shape) {
  if (shape_numel(sizes) == 0 || sizes.empty()) return contiguous_strides(shape);
  Shape out(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace

void check_dtype(const Tensor& t, DType expected, const char* what) {
  if (t.dtype() != expected)
    throw std::invalid_argument(std::string(what) + ": expected dtype " + std::string(dtype_name(expected)) +
                                ", tensor has " + std::string(dtype_name(t.dtype())));
}

Tensor::Tensor(Storage storage, DType dtype, Shape sizes, Shape strides, int64_t offset) {
  if (sizes.size() != strides.size())
    throw std::invalid_argument("tensor: sizes " + shape_str(sizes) + " and strides " + shape_str(strides) +
                                " differ in length");
  const size_t elems = storage.nbytes() / element_size(dtype);
  if (!geometry_fits(sizes, strides, offset, elems))
    throw std::out_of_range("tensor: sizes " + shape_str(sizes) + ", strides " + shape_str(strides) +
                            ", offset " + std::to_string(offset) + " reach outside a storage of " +
                            std::to_string(elems) + " elements");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->dtype = dtype;
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl_ = std::move(impl);
}

int64_t Tensor::size(int64_t d) const { return sizes()[wrap_dim(d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim())]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  const auto& sz = sizes();
  const auto& st = strides();
  for (size_t i = sz.size(); i-- > 0;) {
    if (sz[i] == 1) continue;
    if (sz[i] == 0) return true;
    if (st[i] != expected) return false;
    expected *= sz[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage().data()) + storage_offset() * static_cast<int64_t>(element_size(dtype()));
}

double Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument("item(): tensor of shape " + shape_str(sizes()) + " has " +
                                std::to_string(numel()) + " elements, not 1");
  return to_vector()[0];
}

// ---------------------------------------------------------------- views

Tensor Tensor::view(Shape shape) const {
  shape = infer_size(std::move(shape), numel());
  auto st = view_strides(sizes(), strides(), shape);
  if (!st)
    throw std::invalid_argument("view: size " + shape_str(shape) + " is not compatible with the input's strides " +
                                shape_str(strides()) + "; use reshape()");
  Tensor out = make_view(*this, shape, *st, storage_offset());
  const Shape in_shape = sizes();
  record_view(out, *this, "ViewBackward", [in_shape](const Tensor& g) { return g.reshape(in_shape); });
  return out;
}

Tensor Tensor::reshape(Shape shape) const {
  shape = infer_size(std::move(shape), numel());
  if (view_strides(sizes(), strides(), shape)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim());
  d1 = wrap_dim(d1, dim());
  Shape sz = sizes(), st = strides();
  std::swap(sz[d0], sz[d1]);
  std::swap(st[d0], st[d1]);
  Tensor out = make_view(*this, sz, st, storage_offset());
  record_view(out, *this, "TransposeBackward", [d0, d1](const Tensor& g) { return g.transpose(d0, d1); });
  return out;
}

Tensor Tensor::t() const {
  if (dim() > 2) throw std::invalid_argument("t(): expects a tensor with <= 2 dims, got " + shape_str(sizes()));
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::permute(const Shape& dims) const {
  if (static_cast<int64_t>(dims.size()) != dim())
    throw std::invalid_argument("permute: " + shape_str(dims) + " does not match " + std::to_string(dim()) + " dims");
  Shape sz(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim());
    if (seen[d]) throw std::invalid_argument("permute: repeated dim in " + shape_str(dims));
    seen[d] = true;
    sz[i] = sizes()[d];
    st[i] = strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  record_view(out, *this, "PermuteBackward", [inverse](const Tensor& g) { return g.permute(inverse); });
  return out;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim());
  if (step <= 0) throw std::invalid_argument("slice: step must be positive");
  const int64_t n = sizes()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sz = sizes(), st = strides();
  sz[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, sz, st, storage_offset() + start * strides()[d]);
  if (any_requires_grad({this}))
    record_view(out, *this, "SliceBackward",
                scatter_back(*this, [d, start, end, step](const Tensor& z) { return z.slice(d, start, end, step); }));
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim());
  if (start < 0) start += sizes()[d];
  if (start < 0 || length < 0 || start + length > sizes()[d])
    throw std::out_of_range("narrow: [" + std::to_string(start) + ", " + std::to_string(start + length) +
                            ") out of range for dim " + std::to_string(d) + " of size " + std::to_string(sizes()[d]));
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim());
  const int64_t n = sizes()[d];
  if (index < -n || index >= n)
    throw std::out_of_range("select: index " + std::to_string(index) + " out of range for dim " +
                            std::to_string(d) + " of size " + std::to_string(n));
  if (index < 0) index += n;
  Shape sz = sizes(), st = strides();
  const int64_t off = storage_offset() + index * st[d];
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sz, st, off);
  if (any_requires_grad({this}))
    record_view(out, *this, "SelectBackward",
                scatter_back(*this, [d, index](const Tensor& z) { return z.select(d, index); }));
  return out;
}

Tensor Tensor::expand(Shape shape) const {
  if (shape.size() < sizes().size())
    throw std::invalid_argument("expand: " + shape_str(shape) + " has fewer dims than " + shape_str(sizes()));
  const size_t lead = shape.size() - sizes().size();
  Shape st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      if (shape[i] < 0) throw std::invalid_argument("expand: -1 not allowed for a new leading dim");
      continue;
    }
    const int64_t have = sizes()[i - lead];
    if (shape[i] == -1) shape[i] = have;
    if (have == shape[i]) {
      st[i] = strides()[i - lead];
    } else if (have != 1) {
      throw std::invalid_argument("expand: cannot expand " + shape_str(sizes()) + " to " + shape_str(shape));
    }
  }
  Tensor out = make_view(*this, shape, st, storage_offset());
  const Shape in_shape = sizes();
  record_view(out, *this, "ExpandBackward", [in_shape](const Tensor& g) { return sum_to(g, in_shape); });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1);
  Shape sz = sizes(), st = strides();
  const int64_t new_stride = d < dim() ? sz[d] * st[d] : 1;
  sz.insert(sz.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  Tensor out = make_view(*this, sz, st, storage_offset());
  const Shape in_shape = sizes();
  record_view(out, *this, "UnsqueezeBackward", [in_shape](const Tensor& g) { return g.reshape(in_shape); });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim());
  if (sizes()[d] != 1) return *this;
  Shape sz = sizes(), st = strides();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sz, st, storage_offset());
  const Shape in_shape = sizes();
  record_view(out, *this, "SqueezeBackward", [in_shape](const Tensor& g) { return g.reshape(in_shape); });
  return out;
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim());
  end = wrap_dim(end, dim());
  if (start > end) throw std::invalid_argument("flatten: start dim after end dim");
  Shape sz(sizes().begin(), sizes().begin() + start);
  int64_t merged = 1;
  for (int64_t i = start; i <= end; ++i) merged *= sizes()[i];
  sz.push_back(merged);
  sz.insert(sz.end(), sizes().begin() + end + 1, sizes().end());
  return reshape(sz);
}

Tensor Tensor::as_strided(Shape sz, Shape st, int64_t offset) const {
  return Tensor(storage(), dtype(), std::move(sz), std::move(st), offset);
}

// ---------------------------------------------------------------- copies

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(sizes(), dtype(), device());
  {
    NoGradGuard ng;
    out.copy_(*this);
  }
  if (any_requires_grad({this}))
    record(out, "CloneBackward", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = empty(sizes(), t, device());
  {
    NoGradGuard ng;
    out.copy_(*this);
  }
  if (any_requires_grad({this}) && is_floating(t)) {
    const DType src = dtype();
    record(out, "ToCopyBackward", {*this}, [src](const Tensor& g) { return std::vector<Tensor>{g.to(src)}; });
  }
  return out;
}

// A tensor over a CPU copy of `t`'s whole storage, with t's geometry: how a
// view on a device is read or updated without a kernel there.
static Tensor host_copy_of_storage(const Tensor& t) {
  const Storage& st = t.storage();
  Storage host = Storage::allocate(st.nbytes(), Device::cpu());
  copy_bytes(host.data(), Device::cpu(), st.data(), st.device(), st.nbytes());
  return Tensor(std::move(host), t.dtype(), t.sizes(), t.strides(), t.storage_offset());
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  // A non-contiguous view off the CPU is compacted on the CPU (contiguous()
  // there would come back here through copy_).
  Tensor src = is_contiguous() || device().is_cpu() ? contiguous() : host_copy_of_storage(*this).contiguous();
  Tensor out = src;
  if (src.device() != d) {
    out = empty(sizes(), dtype(), d);
    copy_bytes(out.raw_data(), d, src.raw_data(), src.device(), src.nbytes());
  }
  if (any_requires_grad({this})) {
    const Device from = device();
    record(out, "ToDeviceBackward", {*this}, [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  if (grad_mode_enabled() && is_leaf() && requires_grad())
    throw std::invalid_argument("copy_: a leaf tensor that requires grad cannot be written in place "
                                "(use a NoGradGuard, as optimizers and loaders do)");
  Tensor s = src.sizes() == sizes() ? src : src.expand(sizes());
  if (device().is_cpu() && s.device().is_cpu()) {
    cpu::copy_strided(*this, s);
    return *this;
  }
  // Across devices: move the bytes, then convert on this side.
  if (s.dtype() == dtype() && s.is_contiguous() && is_contiguous()) {
    copy_bytes(raw_data(), device(), s.raw_data(), s.device(), nbytes());
    return *this;
  }
#ifdef TORCHLESS_WITH_CUDA
  // Views on one device are copied there by a kernel (no host round trip).
  if (device().is_cuda() && s.device() == device() && s.dtype() == dtype() && cuda_kernels_available()) {
    cuda::copy_strided(*this, s);
    return *this;
  }
#endif
  if (device().is_cpu()) {
    cpu::copy_strided(*this, s.to(Device::cpu()));
    return *this;
  }
  if (!is_contiguous()) {
    // A view off the CPU: write it into a host copy of its whole storage, then
    // put the storage back (the bytes between the view's elements are kept).
    Tensor host = host_copy_of_storage(*this);
    cpu::copy_strided(host, s.to(Device::cpu()));
    copy_bytes(storage().data(), device(), host.storage().data(), Device::cpu(), storage().nbytes());
    return *this;
  }
  Tensor staged = empty(sizes(), dtype());
  cpu::copy_strided(staged, s.to(Device::cpu()));
  copy_bytes(raw_data(), device(), staged.raw_data(), Device::cpu(), nbytes());
  return *this;
}

Tensor& Tensor::fill_(double value) {
  if (!device().is_cpu()) {
#ifdef TORCHLESS_WITH_CUDA
    if (cuda_kernels_available()) {
      cuda::fill(*this, value);
      return *this;
    }
#endif
    Tensor staged = full(sizes(), value, dtype());
    return copy_(staged);
  }
  cpu::fill_strided(*this, value);
  return *this;
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = device().is_cpu() ? *this : to(Device::cpu());
  Tensor d = empty(c.sizes(), DType::Float64);
  cpu::copy_strided(d, c);
  const double* p = static_cast<const double*>(d.raw_data());
  return std::vector<double>(p, p + d.numel());
}

// ---------------------------------------------------------------- autograd

Tensor& Tensor::set_requires_grad(bool r) {
  if (!is_leaf())
    throw std::invalid_argument("set_requires_grad: only leaf tensors can change requires_grad "
                                "(use detach() to make a leaf)");
  if (r && !is_floating(dtype()))
    throw std::invalid_argument("set_requires_grad: only floating-point tensors can require gradients, not " +
                                std::string(dtype_name(dtype())));
  impl().requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined() && g.sizes() != sizes())
    throw std::invalid_argument("set_grad: gradient shape " + shape_str(g.sizes()) + " differs from tensor shape " +
                                shape_str(sizes()));
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::backward(const Tensor& grad_output) const {
  if (!requires_grad())
    throw std::invalid_argument("backward: tensor does not require grad and has no grad_fn");
  Tensor g = grad_output;
  if (!g.defined()) {
    if (numel() != 1)
      throw std::invalid_argument("backward: grad can be implicitly created only for scalar outputs, shape is " +
                                  shape_str(sizes()));
    g = ones(sizes(), dtype(), device());
  }
  run_backward(*this, g);
}

Tensor Tensor::detach() const { return make_view(*this, sizes(), strides(), storage_offset()); }

Tensor Tensor::operator-() const { return neg(*this); }

// ---------------------------------------------------------------- printing

std::string to_string(const Tensor& t, int64_t max_elements) {
  std::ostringstream os;
  os << "tensor(";
  const auto values = t.to_vector();
  const bool floating = is_floating(t.dtype()) || is_complex(t.dtype());
  auto fmt = [&](double v) {
    char buf[32];
    if (t.dtype() == DType::Bool) return std::string(v != 0 ? "True" : "False");
    if (!floating) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return std::string(buf);
  };
  if (t.dim() == 0) {
    os << fmt(values.empty() ? 0.0 : values[0]);
  } else {
    // Nested brackets over the row-major values, eliding the middle when large.
    const int64_t n = static_cast<int64_t>(values.size());
    const Shape st = contiguous_strides(t.sizes());
    for (int64_t i = 0; i < n; ++i) {
      if (n > max_elements && i == max_elements / 2) {
        os << "..., ";
        i = n - max_elements / 2;
      }
      for (int64_t d = 0; d < t.dim(); ++d)
        if (i % (st[d] * t.sizes()[d]) == 0) os << "[";
      os << fmt(values[i]);
      int closes = 0;
      for (int64_t d = 0; d < t.dim(); ++d)
        if ((i + 1) % (st[d] * t.sizes()[d]) == 0) ++closes;
      for (int c = 0; c < closes; ++c) os << "]";
      if (i + 1 < n) os << ", ";
    }
    if (n == 0) os << "[]";
  }
  if (t.dtype() != DType::Float32) os << ", dtype=" << dtype_name(t.dtype());
  if (!t.device().is_cpu()) os << ", device='" << t.device().str() << "'";
  if (t.requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

// ---------------------------------------------------------------- factories

Tensor empty(Shape shape, DType dtype, Device device) {
  for (auto d : shape)
    if (d < 0) throw std::invalid_argument("empty: negative size in " + shape_str(shape));
  const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * element_size(dtype);
  Shape st = contiguous_strides(shape);
  return Tensor(Storage::allocate(nbytes, device), dtype, std::move(shape), std::move(st), 0);
}

Tensor zeros(Shape shape, DType dtype, Device device) { return full(std::move(shape), 0.0, dtype, device); }
Tensor ones(Shape shape, DType dtype, Device device) { return full(std::move(shape), 1.0, dtype, device); }

Tensor full(Shape shape, double value, DType dtype, Device device) {
#ifdef TORCHLESS_WITH_CUDA
  if (device.is_cuda() && cuda_kernels_available()) {
    Tensor t = empty(std::move(shape), dtype, device);
    t.fill_(value);
    return t;
  }
#endif
  Tensor cpu_t = empty(std::move(shape), dtype);
  cpu::fill_strided(cpu_t, value);
  return device.is_cpu() ? cpu_t : cpu_t.to(device);
}

Tensor arange(double start, double end, double step, DType dtype) {
  if (step == 0) throw std::invalid_argument("arange: step must be nonzero");
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw std::invalid_argument("arange: unsupported range " + std::to_string(start) + " -> " + std::to_string(end) +
                                " with step " + std::to_string(step) + " (all must be finite)");
  const double count = std::ceil((end - start) / step);
  // Past 2^53 the values could not even be told apart in float64.
  if (!(count <= 9007199254740992.0))
    throw std::invalid_argument("arange: " + std::to_string(start) + " -> " + std::to_string(end) + " with step " +
                                std::to_string(step) + " would have " + std::to_string(count) + " elements");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
  Tensor out = empty({n}, DType::Float64);
  double* v = static_cast<double*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
  return dtype == DType::Float64 ? out : out.to(dtype);
}

Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }

Tensor from_vector(const std::vector<double>& values, Shape shape, DType dtype) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) + " values for shape " +
                                shape_str(shape));
  Tensor src(Storage::wrap(const_cast<double*>(values.data()), values.size() * sizeof(double), Device::cpu(), nullptr),
             DType::Float64, shape, contiguous_strides(shape), 0);
  Tensor out = empty(shape, dtype);
  cpu::copy_strided(out, src);
  return out;
}

Tensor from_vector(const std::vector<float>& values, Shape shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) + " values for shape " +
                                shape_str(shape));
  return from_blob(values.data(), std::move(shape), DType::Float32);
}

Tensor from_blob(const void* data, Shape shape, DType dtype) {
  Tensor out = empty(std::move(shape), dtype);
  if (out.nbytes()) std::memcpy(out.raw_data(), data, out.nbytes());
  return out;
}

}  // namespace torchless
