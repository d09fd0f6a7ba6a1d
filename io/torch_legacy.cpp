#include "io/torch_legacy.h"

#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

#include "io/bool_bytes.h"
#include "io/file_error.h"
#include "io/torch_rebuild.h"
#include "io/unpickler.h"

namespace torchless::io {
namespace {

using K = Value::Kind;

// 0x1950a86a20f9469cfc6c as pickle's LONG1 little-endian bytes.
const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr int64_t kProtocolVersion = 1001;

struct Reader {
  std::string_view bytes;
  size_t pos = 0;
  const std::string& name;
  UnpickleOptions plain;

  ValuePtr next(const UnpickleOptions& opt, const char* what) {
    if (pos >= bytes.size()) fail_in(name, std::string("truncated legacy checkpoint: missing ") + what);
    size_t used = 0;
    ValuePtr v;
    try {
      v = unpickle(bytes.substr(pos), opt, &used);
    } catch (const UnpickleError& e) {
      fail_in(name, std::string(e.what()) + " (in the legacy " + what + ")");
    }
    pos += used;
    return v;
  }
};

}  // namespace

Checkpoint load_legacy(std::string_view bytes, const std::string& name, const LoadOptions& opt) {
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), "PYTORCH1", 8) == 0)
    fail_in(name, "the 2018 'PYTORCH1' preview format is not supported");
  Reader r{bytes, 0, name, {}};
  r.plain.safe = true;  // the header pickles never need a global
  ValuePtr magic, version, sys_info, keys;
  Checkpoint ck;
  bool loaded = false;
  // A file can make any of these trees cyclic: free them however the load
  // ends (the object too, unless it is returned).
  struct Release {
    std::vector<ValuePtr*> trees;
    ValuePtr* root;
    const bool* loaded;
    ~Release() {
      for (ValuePtr* t : trees) release(*t);
      if (!*loaded) release(*root);
    }
  } cleanup{{&magic, &version, &sys_info, &keys}, &ck.root, &loaded};
  try {
    size_t used = 0;
    magic = unpickle(bytes, r.plain, &used);
    r.pos = used;
  } catch (const std::exception&) {
    fail_in(name, "not a torch checkpoint (neither a zip archive nor a legacy torch.save stream)");
  }
  const bool magic_ok = (magic->kind == K::BigInt && magic->s == kMagic);
  if (!magic_ok) fail_in(name, "not a torch checkpoint (no torch.save magic number)");
  version = r.next(r.plain, "protocol version");
  if (version->kind != K::Int || version->i != kProtocolVersion)
    fail_in(name, "unsupported legacy protocol version " + repr(version));
  sys_info = r.next(r.plain, "system info");
  if (sys_info->is_dict()) {
    if (ValuePtr little = sys_info->get("little_endian"); little && little->kind == K::Bool && !little->b)
      fail_in(name, "big-endian legacy checkpoints are not supported");
  }

  ck.format = "legacy";
  ck.path = name;
  struct Pending {
    ValuePtr value;
    DType dtype;
    int64_t numel;
    bool filled = false;
  };
  std::map<std::string, Pending> storages;
  UnpickleOptions uo = torch_unpickle_options(
      opt.safe, opt.on_global,
      [&](const std::string& key, DType dtype, int64_t numel, const std::string& location) -> ValuePtr {
        if (auto it = storages.find(key); it != storages.end()) return it->second.value;
        Device device;
        try {
          device = opt.map_location.resolve(location);
        } catch (const std::exception& e) {
          fail_in(name, e.what());
        }
        if (!device.is_cpu())
          fail_in(name, "legacy-format storages load on the CPU only (saved on " + location +
                         "); load with map_location \"cpu\" and move the tensors");
        // Bytes follow the pickles; check the claim against what is left before allocating.
        if (static_cast<uint64_t>(numel) > bytes.size() / element_size(dtype))
          fail_in(name, "storage '" + key + "' claims " + std::to_string(numel) + " " + std::string(dtype_name(dtype)) +
                         " elements, more than the whole file holds (truncated or corrupt file)");
        const uint64_t nbytes = static_cast<uint64_t>(numel) * element_size(dtype);
        // Zeroed: the bytes come after the object pickle, and until then an
        // error message may print a tensor over this storage (uninitialised
        // bool bytes would be undefined behaviour to read).
        Storage st = Storage::allocate(nbytes);
        if (nbytes) std::memset(st.data(), 0, nbytes);
        auto v = Value::from_storage(std::move(st), dtype);
        storages[key] = {v, dtype, numel};
        ck.storages.push_back({key, dtype, numel, location, device});
        return v;
      },
      name);
  // A pickled module's source arrives as ('module', type, source_file, source) — kept inert.
  auto load_storage = uo.persistent_load;
  uo.persistent_load = [load_storage](const ValuePtr& pid) -> ValuePtr {
    if (pid && pid->kind == K::Tuple && !pid->items.empty() && pid->items[0]->kind == K::Str &&
        pid->items[0]->s == "module")
      return pid->items.size() > 1 ? pid->items[1] : Value::none();
    return load_storage(pid);
  };
  ck.root = r.next(uo, "object");
  keys = r.next(r.plain, "storage key list");
  if (keys->kind != K::List) fail_in(name, "legacy storage key list is not a list");
  for (const auto& k : keys->items) {
    if (k->kind != K::Str) fail_in(name, "legacy storage key is not a string");
    auto it = storages.find(k->s);
    if (it == storages.end()) fail_in(name, "legacy storage '" + k->s + "' is listed but never used");
    if (r.pos + 8 > bytes.size()) fail_in(name, "truncated: storage '" + k->s + "' is missing (an upload may have stopped early)");
    int64_t numel = 0;
    std::memcpy(&numel, bytes.data() + r.pos, 8);
    r.pos += 8;
    if (numel != it->second.numel)
      fail_in(name, "storage '" + k->s + "' has " + std::to_string(numel) + " elements in the data, " +
                     std::to_string(it->second.numel) + " in the pickle");
    const size_t nbytes = static_cast<size_t>(numel) * element_size(it->second.dtype);
    if (r.pos + nbytes > bytes.size())
      fail_in(name, "truncated: storage '" + k->s + "' needs " + std::to_string(nbytes) + " bytes, " +
                     std::to_string(bytes.size() - r.pos) + " left (an upload may have stopped early)");
    if (nbytes) std::memcpy(it->second.value->storage.data(), bytes.data() + r.pos, nbytes);
    if (it->second.dtype == DType::Bool) normalise_bools(static_cast<uint8_t*>(it->second.value->storage.data()), nbytes);
    it->second.filled = true;
    r.pos += nbytes;
  }
  // A storage the object uses must have its bytes in the file: otherwise
  // its tensors would show whatever the allocation held.
  for (const auto& [key, st] : storages)
    if (!st.filled) fail_in(name, "legacy storage '" + key + "' is used by the object but missing from the storage key list");
  if (keys->items.size() != storages.size()) fail_in(name, "legacy checkpoint: some storages have no data");
  loaded = true;
  return ck;
}

}  // namespace torchless::io
