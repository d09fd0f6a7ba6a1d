#include "io/torch_save.h"

#include <cstdio>
#include <cstring>
#include <optional>
#include <map>
#include <stdexcept>
#include <vector>

#include "io/pickler.h"
#include "io/torch_rebuild.h"
#include "io/zip_writer.h"

namespace torchless::io {
namespace {

using K = Value::Kind;

struct StorageRecord {
  std::string key;
  Storage storage;
  DType dtype;
};

// Collects storages in order of first appearance and turns tensors into
// torch's rebuild calls.
class TensorTable {
 public:
  ValuePtr tensor_to_call(const ValuePtr& v) {
    const Tensor& t = v->tensor;
    const bool typed = !storage_class_name(t.dtype()).empty();
    ValuePtr storage = storage_value(t, typed);
    Shape size = t.sizes(), stride = t.strides();
    auto ints = [](const Shape& s) {
      std::vector<ValuePtr> items;
      for (auto x : s) items.push_back(Value::integer(x));
      return Value::tuple(std::move(items));
    };
    const bool is_param = v->cls == kParameterClass;
    std::vector<ValuePtr> args{storage, Value::integer(t.storage_offset()), ints(size), ints(stride),
                               Value::boolean(t.requires_grad() && !is_param), Value::dict("collections.OrderedDict")};
    if (!typed) args.push_back(Value::global("torch", std::string(dtype_name(t.dtype()))));
    ValuePtr call = Value::object(Value::global("torch._utils", typed ? "_rebuild_tensor_v2" : "_rebuild_tensor_v3"),
                                  Value::tuple(std::move(args)));
    if (!is_param) return call;
    return Value::object(Value::global("torch._utils", "_rebuild_parameter"),
                         Value::tuple({call, Value::boolean(t.requires_grad()), Value::dict("collections.OrderedDict")}));
  }

  std::optional<ValuePtr> persistent_id(const ValuePtr& v) {
    if (v->kind != K::Storage) return std::nullopt;
    auto it = by_value_.find(v.get());
    if (it == by_value_.end()) throw std::invalid_argument("torch.save: a storage outside any tensor cannot be saved");
    const StorageRecord& r = records_[it->second];
    const size_t esize = element_size(r.dtype);
    const bool typed = !storage_class_name(r.dtype).empty();
    const Device dev = r.storage.device();
    return Value::tuple({Value::str("storage"),
                         typed ? Value::global("torch", std::string(storage_class_name(r.dtype)))
                               : Value::global("torch.storage", "UntypedStorage"),  // as torch writes it; weights_only allows only this spelling
                         Value::str(r.key), Value::str(dev.str()),
                         Value::integer(static_cast<int64_t>(r.storage.nbytes() / (typed ? esize : 1)))});
  }

  const std::vector<StorageRecord>& records() const { return records_; }

 private:
  ValuePtr storage_value(const Tensor& t, bool typed) {
    const void* id = t.storage().id();
    auto it = by_storage_.find(id);
    if (it != by_storage_.end()) {
      const StorageRecord& r = records_[it->second.index];
      if (r.dtype != t.dtype())
        throw std::invalid_argument("torch.save: one storage is viewed as both " + std::string(dtype_name(r.dtype)) +
                                    " and " + std::string(dtype_name(t.dtype())) + "; save copies instead");
      return it->second.value;
    }
    const size_t index = records_.size();
    records_.push_back({std::to_string(index), t.storage(), t.dtype()});
    ValuePtr v = Value::from_storage(t.storage(), typed ? t.dtype() : DType::UInt8);
    by_storage_[id] = {index, v};
    by_value_[v.get()] = index;
    return v;
  }

  struct Entry {
    size_t index;
    ValuePtr value;
  };
  std::vector<StorageRecord> records_;
  std::map<const void*, Entry> by_storage_;
  std::map<const Value*, size_t> by_value_;
};

// 40 digits like torch's: a hash of the record names, then of their sizes.
// torch treats it as informational only.
std::string serialization_id(const std::vector<std::string>& names, const std::vector<uint64_t>& sizes) {
  uint64_t h1 = 1469598103934665603ULL, h2 = 1469598103934665603ULL;
  for (const auto& n : names)
    for (unsigned char c : n) h1 = (h1 ^ c) * 1099511628211ULL;
  for (uint64_t s : sizes) h2 = (h2 ^ s) * 1099511628211ULL;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%020llu%020llu", static_cast<unsigned long long>(h1),
                static_cast<unsigned long long>(h2));
  return buf;
}

}  // namespace

void write_checkpoint(ByteSink& sink, const ValuePtr& root, const SaveOptions& opt) {
  TensorTable table;
  PickleOptions po;
  po.tensor_hook = [&](const ValuePtr& v) { return table.tensor_to_call(v); };
  po.persistent_id = [&](const ValuePtr& v) { return table.persistent_id(v); };
  std::string pkl;
  try {
    pkl = pickle(root, po);
  } catch (const PickleError& e) {
    throw std::invalid_argument(std::string("torch.save: ") + e.what());
  }
  ZipWriter zip(sink, opt.archive_name, opt.alignment);
  std::vector<std::string> names;
  std::vector<uint64_t> sizes;
  auto add = [&](const std::string& name, const void* data, size_t n) {
    zip.add(name, data, n);
    names.push_back(name);
    sizes.push_back(n);
  };
  add("data.pkl", pkl.data(), pkl.size());
  add(".format_version", "1", 1);
  const std::string align = std::to_string(opt.alignment);
  add(".storage_alignment", align.data(), align.size());
  add("byteorder", "little", 6);
  std::vector<char> host;
  for (const auto& r : table.records()) {
    const Storage& s = r.storage;
    if (s.device().is_cpu()) {
      add("data/" + r.key, s.data(), s.nbytes());
    } else {
      host.resize(s.nbytes());
      copy_bytes(host.data(), Device::cpu(), s.data(), s.device(), s.nbytes());
      add("data/" + r.key, host.data(), host.size());
    }
  }
  add("version", "3\n", 2);
  const std::string id = serialization_id(names, sizes);
  zip.add(".data/serialization_id", id.data(), id.size());
  zip.finish();
}

std::string save_to_bytes(const ValuePtr& root, const SaveOptions& opt) {
  StringSink sink;
  write_checkpoint(sink, root, opt);
  return std::move(sink.str());
}

void save(const ValuePtr& root, const std::string& path, const SaveOptions& opt) {
  write_file_atomic(path, [&](int fd) {
    FdSink sink(fd, path);
    write_checkpoint(sink, root, opt);
    sink.flush();
  });
}

}  // namespace torchless::io
