#include "io/torch_rebuild.h"

#include "io/bool_bytes.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "io/file_error.h"

namespace torchless::io {
namespace {

using K = Value::Kind;

const std::vector<ValuePtr>& tuple_items(const ValuePtr& v, const std::string& name, const char* what) {
  if (!v || (v->kind != K::Tuple && v->kind != K::List)) fail_in(name, std::string(what) + " is not a tuple");
  return v->items;
}

Shape int_tuple(const ValuePtr& v, const std::string& name, const char* what) {
  Shape out;
  for (const auto& x : tuple_items(v, name, what)) {
    if (!x || x->kind != K::Int) fail_in(name, std::string(what) + " holds a non-integer");
    out.push_back(x->i);
  }
  return out;
}

// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
//     requires_grad, backward_hooks[, metadata]) and _v3(..., dtype[, metadata]).
ValuePtr rebuild_tensor(const ValuePtr& args, bool v3, const std::string& name) {
  const auto& a = tuple_items(args, name, "_rebuild_tensor arguments");
  if (a.size() < (v3 ? 7u : 5u)) fail_in(name, "_rebuild_tensor: too few arguments");
  const ValuePtr& st = a[0];
  if (!st || st->kind != K::Storage) fail_in(name, "_rebuild_tensor: first argument is not a storage");
  if (!a[1] || a[1]->kind != K::Int) fail_in(name, "_rebuild_tensor: storage offset is not an integer");
  DType dtype = st->storage_dtype;
  if (v3) {
    const ValuePtr& d = a[6];
    if (!d || d->kind != K::Global || d->s != "torch") fail_in(name, "_rebuild_tensor_v3: bad dtype argument");
    try {
      dtype = dtype_from_name(d->name);
    } catch (const std::exception& e) {
      fail_in(name, std::string("_rebuild_tensor_v3: ") + e.what());
    }
  }
  Shape size = int_tuple(a[2], name, "tensor size");
  Shape stride = int_tuple(a[3], name, "tensor stride");
  if (size.size() != stride.size()) fail_in(name, "tensor size " + shape_str(size) + " and stride " + shape_str(stride) + " differ in length");
  for (auto s : size)
    if (s < 0) fail_in(name, "negative tensor size in " + shape_str(size));
  Tensor t;
  try {
    t = Tensor(st->storage, dtype, size, stride, a[1]->i);
  } catch (const std::exception& e) {
    fail_in(name, e.what());
  }
  const bool requires_grad = a[4] && a[4]->kind == K::Bool && a[4]->b;
  if (requires_grad && is_floating(dtype)) t.set_requires_grad(true);
  return Value::from_tensor(t);
}

ValuePtr rebuild_parameter(const ValuePtr& args, const std::string& name) {
  const auto& a = tuple_items(args, name, "_rebuild_parameter arguments");
  if (a.size() < 2 || !a[0] || a[0]->kind != K::Tensor) fail_in(name, "_rebuild_parameter: first argument is not a tensor");
  Tensor t = a[0]->tensor;
  const bool requires_grad = a[1] && a[1]->kind == K::Bool && a[1]->b;
  if (is_floating(t.dtype())) t.set_requires_grad(requires_grad);
  auto v = Value::from_tensor(t);
  v->cls = kParameterClass;
  return v;
}

// numpy dtype object -> (kind char, item size, little endian?)
struct NumpyType {
  char kind;
  int size;
  bool little;
};

NumpyType numpy_dtype(const ValuePtr& d, const std::string& name) {
  if (!d || d->kind != K::Object || !d->callable || !d->callable->is_global("numpy", "dtype"))
    fail_in(name, "numpy value without a numpy.dtype");
  const auto& a = tuple_items(d->args, name, "numpy.dtype arguments");
  if (a.empty() || !a[0] || a[0]->kind != K::Str || a[0]->s.size() < 2) fail_in(name, "numpy.dtype: bad type code");
  const std::string& code = a[0]->s;  // "f8", "i4", "b1", "u1"
  NumpyType t{code[0], std::atoi(code.c_str() + 1), true};
  // BUILD state (version, byteorder, ...): '<' little, '>' big, '|' n/a
  if (d->state && d->state->kind == K::Tuple && d->state->items.size() > 1 && d->state->items[1]->kind == K::Str)
    t.little = d->state->items[1]->s != ">";
  return t;
}

DType numpy_to_dtype(const NumpyType& t, const std::string& name) {
  switch (t.kind) {
    case 'f':
      if (t.size == 4) return DType::Float32;
      if (t.size == 8) return DType::Float64;
      if (t.size == 2) return DType::Float16;
      break;
    case 'i':
      if (t.size == 1) return DType::Int8;
      if (t.size == 2) return DType::Int16;
      if (t.size == 4) return DType::Int32;
      if (t.size == 8) return DType::Int64;
      break;
    case 'u':
      if (t.size == 1) return DType::UInt8;
      break;
    case 'b':
      if (t.size == 1) return DType::Bool;
      break;
    case 'c':
      if (t.size == 8) return DType::Complex64;
      if (t.size == 16) return DType::Complex128;
      break;
  }
  fail_in(name, "unsupported numpy dtype '" + std::string(1, t.kind) + std::to_string(t.size) + "'");
}

Tensor tensor_from_bytes(const std::string& bytes, DType dtype, Shape shape, bool little, const std::string& name) {
  const int64_t n = shape_numel(shape);
  if (n < 0 || static_cast<uint64_t>(n) * element_size(dtype) != bytes.size())
    fail_in(name, "numpy data has " + std::to_string(bytes.size()) + " bytes, shape " + shape_str(shape) + " of " +
                   std::string(dtype_name(dtype)) + " needs " + std::to_string(n * element_size(dtype)));
  Tensor t = from_blob(bytes.data(), shape, dtype);
  if (dtype == DType::Bool) normalise_bools(static_cast<uint8_t*>(t.raw_data()), static_cast<size_t>(n));
  if (!little) {
    // complex numbers swap each of their two parts
    const size_t unit = is_complex(dtype) ? element_size(dtype) / 2 : element_size(dtype);
    byteswap_elements(t.raw_data(), static_cast<size_t>(n) * (element_size(dtype) / unit), unit);
  }
  return t;
}

// numpy.core.multiarray.scalar(dtype, bytes) -> a Python number.
ValuePtr numpy_scalar(const ValuePtr& args, const std::string& name) {
  const auto& a = tuple_items(args, name, "numpy scalar arguments");
  if (a.size() < 2 || !a[1] || a[1]->kind != K::Bytes) fail_in(name, "numpy scalar without data bytes");
  const NumpyType nt = numpy_dtype(a[0], name);
  const DType dt = numpy_to_dtype(nt, name);
  Tensor t = tensor_from_bytes(a[1]->s, dt, {}, nt.little, name);
  if (is_floating(dt)) return Value::floating(t.item());
  if (dt == DType::Bool) return Value::boolean(t.item() != 0);
  if (is_complex(dt)) return Value::from_tensor(t);
  if (dt == DType::Int64) return Value::integer(*t.data_ptr<int64_t>());
  return Value::integer(static_cast<int64_t>(t.item()));
}

bool is_numpy_global(const ValuePtr& g, const char* fn) {
  return g && g->kind == K::Global && (g->s == "numpy.core.multiarray" || g->s == "numpy._core.multiarray") &&
         g->name == fn;
}

// BUILD of numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') with
// state (version, shape, dtype, is_fortran, data).
ValuePtr numpy_array(const ValuePtr& state, const std::string& name) {
  const auto& s = tuple_items(state, name, "numpy array state");
  if (s.size() < 5) fail_in(name, "numpy array state too short");
  Shape shape = int_tuple(s[1], name, "numpy array shape");
  const NumpyType nt = numpy_dtype(s[2], name);
  const DType dt = numpy_to_dtype(nt, name);
  const bool fortran = s[3] && s[3]->kind == K::Bool && s[3]->b;
  if (!s[4] || s[4]->kind != K::Bytes) fail_in(name, "numpy array of Python objects is not supported");
  Tensor t;
  if (fortran) {
    Shape rev(shape.rbegin(), shape.rend());
    Shape perm;
    for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) perm.push_back(i);
    t = tensor_from_bytes(s[4]->s, dt, rev, nt.little, name).permute(perm).contiguous();
  } else {
    t = tensor_from_bytes(s[4]->s, dt, shape, nt.little, name);
  }
  auto v = Value::from_tensor(t);
  v->cls = kNdarrayClass;
  return v;
}

ValuePtr dispatch_rebuild(const ValuePtr& fn, const ValuePtr& args, const std::string& name);

// torch._tensor._rebuild_from_type_v2(func, new_type, args, state): the
// subclass is dropped (we keep plain tensors), func(args) is rebuilt.
ValuePtr rebuild_from_type(const ValuePtr& args, const std::string& name) {
  const auto& a = tuple_items(args, name, "_rebuild_from_type_v2 arguments");
  if (a.size() < 3) fail_in(name, "_rebuild_from_type_v2: too few arguments");
  ValuePtr r = dispatch_rebuild(a[0], a[2], name);
  if (!r) fail_in(name, "_rebuild_from_type_v2: cannot rebuild " + repr(a[0]));
  return r;
}

ValuePtr dispatch_rebuild(const ValuePtr& fn, const ValuePtr& args, const std::string& name) {
  if (!fn || fn->kind != K::Global) return nullptr;
  if (fn->s == "torch._utils") {
    if (fn->name == "_rebuild_tensor_v2") return rebuild_tensor(args, false, name);
    if (fn->name == "_rebuild_tensor_v3") return rebuild_tensor(args, true, name);
    if (fn->name == "_rebuild_parameter" || fn->name == "_rebuild_parameter_with_state")
      return rebuild_parameter(args, name);
  }
  if (fn->s == "torch._tensor" && fn->name == "_rebuild_from_type_v2") return rebuild_from_type(args, name);
  if (is_numpy_global(fn, "scalar")) return numpy_scalar(args, name);
  return nullptr;
}

}  // namespace

DType storage_global_dtype(const ValuePtr& t) {
  if (!t || t->kind != K::Global || (t->s != "torch" && t->s != "torch.storage"))
    throw std::runtime_error("storage type is not a torch storage class: " + (t ? repr(t) : std::string("null")));
  if (t->name == "UntypedStorage") return DType::UInt8;  // _rebuild_tensor_v3 names the dtype
  return dtype_from_storage_class(t->name);
}

UnpickleOptions torch_unpickle_options(bool safe, std::function<void(const std::string& full_name)> on_global,
                                       StorageLoader load_storage, const std::string& name) {
  UnpickleOptions uo;
  uo.safe = safe;
  if (on_global) uo.on_global = [on_global = std::move(on_global)](const std::string& g, size_t) { on_global(g); };
  install_torch_hooks(uo, std::move(load_storage), name);
  return uo;
}

void install_torch_hooks(UnpickleOptions& opt, StorageLoader load_storage, const std::string& name) {
  opt.persistent_load = [load_storage, name](const ValuePtr& pid) -> ValuePtr {
    // ('storage', storage_type, key, location, numel[, view_metadata])
    if (!pid || pid->kind != K::Tuple || pid->items.size() < 5 || pid->items[0]->kind != K::Str ||
        pid->items[0]->s != "storage")
      fail_in(name, "unsupported persistent id " + repr(pid, 3));
    const auto& it = pid->items;
    DType dtype;
    try {
      dtype = storage_global_dtype(it[1]);
    } catch (const std::exception& e) {
      fail_in(name, e.what());
    }
    if (it[2]->kind != K::Str) fail_in(name, "storage key is not a string: " + repr(it[2]));
    if (it[3]->kind != K::Str) fail_in(name, "storage location is not a string: " + repr(it[3]));
    if (it[4]->kind != K::Int || it[4]->i < 0) fail_in(name, "storage size is not a non-negative integer: " + repr(it[4]));
    return load_storage(it[2]->s, dtype, it[4]->i, it[3]->s);
  };
  opt.reduce_hook = [name](const ValuePtr& fn, const ValuePtr& args) -> ValuePtr {
    return dispatch_rebuild(fn, args, name);
  };
  opt.build_hook = [name](const ValuePtr& obj, const ValuePtr& state) -> ValuePtr {
    if (obj && obj->kind == K::Object && obj->callable && is_numpy_global(obj->callable, "_reconstruct"))
      return numpy_array(state, name);
    if (obj && obj->kind == K::Tensor) {
      // A Parameter/tensor with BUILD state (torch >= 2.x for subclasses):
      // keep the tensor, the state carries nothing we need.
      return obj;
    }
    return nullptr;
  };
}

}  // namespace torchless::io
