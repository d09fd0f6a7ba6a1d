// Live round trips with real PyTorch (skipped where `import torch` fails):
// Python writes -> torchless reads, torchless writes -> Python reads (also
// with weights_only=True on torch >= 2.0), load -> save -> load, and a
// training run resumed across the two frameworks both ways. Both sides
// describe what they hold in one line format ("dump"), compared line by line.
// Plus hostile and broken files through io::load_checkpoint (no torch needed).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/ops.h"
#include "io/checked_file.h"
#include "io/torch_load.h"
#include "io/torch_rebuild.h"
#include "io/torch_save.h"
#include "io/zip_writer.h"
#include "nn/activation.h"
#include "nn/fashion_classifier.h"
#include "nn/functional.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "nn/state_dict.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace torchless;
using io::Value;
using io::ValuePtr;
using K = Value::Kind;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kPython = TORCHLESS_PYTHON;
const std::string kData = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/";

// Runs `cmd` with stderr merged into the captured output.
CommandResult run(const std::string& cmd) { return run_command(cmd + " 2>&1"); }


// "" when torch is not importable; else its version ("1.13.0a0", "2.11.0+cu130").
const std::string& torch_version() {
  static const std::string v = [] {
    CommandResult r = run(kPython + " -c 'import torch; print(torch.__version__)'");
    if (r.rc != 0) return std::string();
    std::string s = r.out;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
  }();
  return v;
}
int torch_major() { return torch_version().empty() ? 0 : std::atoi(torch_version().c_str()); }
int torch_minor() {
  const auto dot = torch_version().find('.');
  return dot == std::string::npos ? 0 : std::atoi(torch_version().c_str() + dot + 1);
}
bool torch_has_float8() { return torch_major() > 2 || (torch_major() == 2 && torch_minor() >= 1); }

#define REQUIRE_TORCH()                                                        \
  do {                                                                         \
    if (torch_version().empty()) GTEST_SKIP() << "python3 cannot import torch"; \
  } while (0)


// ---------------------------------------------------------------------------
// The dump format. One line per value, depth first:
//   <path> C dict|odict|list|tuple <n>
//   <path> V int <decimal> | bigint <hex LE two's complement> | float <hex of the
//            double's bytes> | bool 0/1 | none | str <hex utf8> | bytes <hex>
//   <path> T|P|N <dtype> [sizes] [strides] <offset> g<storage#>|g- <storage bytes> rg0/1 <values>
// values: hex doubles (complex: re,im) when numel <= 64, else "n=<numel> sum=<hex>"
// (sequential double sum). Storage numbers count distinct storages in order.
// ---------------------------------------------------------------------------
const char* kPyDump = R"PY(
import struct, collections, pickle, sys
import torch
try:
    import numpy as np
except Exception:
    np = None
TORCH2 = int(torch.__version__.split('.')[0]) >= 2

def hx(b): return b.hex()
def fhex(x): return struct.pack('<d', float(x)).hex()

def sptr(t):
    return t.untyped_storage().data_ptr() if TORCH2 else t.storage().data_ptr()
def snbytes(t):
    return t.untyped_storage().nbytes() if TORCH2 else t.storage().nbytes()

def values(t):
    t = t.detach().cpu()
    if t.is_complex():
        t = torch.view_as_real(t.resolve_conj() if hasattr(t, 'resolve_conj') else t)
    flat = t.contiguous().reshape(-1).double().tolist()
    if t.numel() <= 64:
        return ' '.join(fhex(v) for v in flat) if flat else '-'
    s = 0.0
    for v in flat:
        s += v
    return 'n=%d sum=%s' % (t.numel(), fhex(s))

def dump(obj, out, path='', groups=None):
    if groups is None: groups = {}
    p = path or '/'
    if np is not None and isinstance(obj, np.ndarray):
        t = torch.from_numpy(obj)
        out.append('%s N %s [%s] [%s] 0 g- - rg0 %s' % (p, str(t.dtype)[6:], ','.join(map(str, t.shape)),
                   ','.join(map(str, t.stride())), values(t)))
        return
    if np is not None and isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, torch.Tensor):
        kind = 'P' if isinstance(obj, torch.nn.Parameter) else 'T'
        if snbytes(obj) == 0:
            g = 'g-'
        else:
            key = sptr(obj)
            if key not in groups: groups[key] = len(groups)
            g = 'g%d' % groups[key]
        out.append('%s %s %s [%s] [%s] %d %s %d rg%d %s' % (p, kind, str(obj.dtype)[6:],
                   ','.join(map(str, obj.shape)), ','.join(map(str, obj.stride())), obj.storage_offset(), g,
                   snbytes(obj), int(obj.requires_grad), values(obj)))
    elif isinstance(obj, dict):
        out.append('%s C %s %d' % (p, 'odict' if type(obj) is collections.OrderedDict else 'dict', len(obj)))
        for k, v in obj.items():
            seg = k if isinstance(k, str) else '#%d' % k
            dump(v, out, path + '/' + seg, groups)
    elif isinstance(obj, (list, tuple)):
        out.append('%s C %s %d' % (p, 'list' if isinstance(obj, list) else 'tuple', len(obj)))
        for i, v in enumerate(obj):
            dump(v, out, path + '/[%d]' % i, groups)
    elif obj is None: out.append('%s V none' % p)
    elif isinstance(obj, bool): out.append('%s V bool %d' % (p, int(obj)))
    elif isinstance(obj, int):
        if -2**63 <= obj < 2**63: out.append('%s V int %d' % (p, obj))
        else: out.append('%s V bigint %s' % (p, hx(pickle.encode_long(obj))))
    elif isinstance(obj, float): out.append('%s V float %s' % (p, fhex(obj)))
    elif isinstance(obj, str): out.append('%s V str %s' % (p, hx(obj.encode('utf-8'))))
    elif isinstance(obj, (bytes, bytearray)): out.append('%s V bytes %s' % (p, hx(bytes(obj))))
    else: out.append('%s O %s' % (p, type(obj).__name__))

def dump_text(obj):
    out = []
    dump(obj, out)
    return '\n'.join(out) + '\n'
)PY";

std::string hex_bytes(const void* data, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}
std::string fhex(double x) { return hex_bytes(&x, sizeof x); }

std::string shape_list(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

void dump(const ValuePtr& v, std::vector<std::string>& out, const std::string& path,
          std::map<const void*, int>& groups) {
  const std::string p = path.empty() ? "/" : path;
  switch (v->kind) {
    case K::Tensor: {
      const Tensor& t = v->tensor;
      const bool nd = v->cls == io::kNdarrayClass;
      std::string line = p + (nd ? " N " : v->cls == io::kParameterClass ? " P " : " T ") +
                         std::string(dtype_name(t.dtype())) + " " + shape_list(t.sizes()) + " " +
                         shape_list(t.strides()) + " " + std::to_string(t.storage_offset()) + " ";
      if (nd) {
        line += "g- - rg0 ";
      } else {
        if (t.storage().nbytes() == 0) {
          line += "g-";
        } else {
          auto it = groups.emplace(t.storage().id(), static_cast<int>(groups.size())).first;
          line += "g" + std::to_string(it->second);
        }
        line += " " + std::to_string(t.storage().nbytes()) + " rg" + std::to_string(t.requires_grad() ? 1 : 0) + " ";
      }
      const auto vals = tensor_values(t);
      if (t.numel() <= 64) {
        if (vals.empty()) line += "-";
        for (size_t i = 0; i < vals.size(); ++i) line += (i ? " " : "") + fhex(vals[i]);
      } else {
        double s = 0;
        for (double x : vals) s += x;
        line += "n=" + std::to_string(t.numel()) + " sum=" + fhex(s);
      }
      out.push_back(line);
      return;
    }
    case K::Dict: {
      out.push_back(p + " C " + (v->cls == "collections.OrderedDict" ? "odict" : "dict") + " " +
                    std::to_string(v->entries.size()));
      for (const auto& [k, x] : v->entries)
        dump(x, out, path + "/" + (k->kind == K::Str ? k->s : "#" + std::to_string(k->as_int())), groups);
      return;
    }
    case K::List:
    case K::Tuple: {
      out.push_back(p + " C " + (v->kind == K::List ? "list " : "tuple ") + std::to_string(v->items.size()));
      for (size_t i = 0; i < v->items.size(); ++i)
        dump(v->items[i], out, path + "/[" + std::to_string(i) + "]", groups);
      return;
    }
    case K::None: out.push_back(p + " V none"); return;
    case K::Bool: out.push_back(p + " V bool " + (v->b ? "1" : "0")); return;
    case K::Int: out.push_back(p + " V int " + std::to_string(v->i)); return;
    case K::BigInt: out.push_back(p + " V bigint " + hex_bytes(v->s.data(), v->s.size())); return;
    case K::Float: out.push_back(p + " V float " + fhex(v->f)); return;
    case K::Str: out.push_back(p + " V str " + hex_bytes(v->s.data(), v->s.size())); return;
    case K::Bytes: out.push_back(p + " V bytes " + hex_bytes(v->s.data(), v->s.size())); return;
    default: out.push_back(p + " O " + v->kind_name()); return;
  }
}

std::vector<std::string> dump(const ValuePtr& v) {
  std::vector<std::string> out;
  std::map<const void*, int> groups;
  dump(v, out, "", groups);
  return out;
}

void expect_same_lines(const std::vector<std::string>& ours, const std::vector<std::string>& theirs,
                       const std::string& what) {
  EXPECT_EQ(ours.size(), theirs.size()) << what;
  for (size_t i = 0; i < std::min(ours.size(), theirs.size()); ++i) EXPECT_EQ(ours[i], theirs[i]) << what << " line " << i;
}

// Runs python with the dump helpers prepended. Returns stdout; fails the test on a non-zero exit.
std::string python(const TempDir& dir, const std::string& name, const std::string& body, const std::string& args = "") {
  const std::string script = dir / name;
  write_file(script, std::string(kPyDump) + body);
  CommandResult r = run(kPython + " " + script + " " + args);
  EXPECT_EQ(r.rc, 0) << name << " failed:\n" << r.out;
  return r.out;
}

// Sections "=== name" of a python output.
std::map<std::string, std::vector<std::string>> sections(const std::string& out) {
  std::map<std::string, std::vector<std::string>> s;
  std::string cur;
  for (const auto& l : lines_of(out)) {
    if (l.rfind("=== ", 0) == 0) {
      cur = l.substr(4);
      s[cur];
    } else if (!cur.empty()) {
      s[cur].push_back(l);
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// (a) Python writes, torchless reads.
// ---------------------------------------------------------------------------
const char* kPyWrite = R"PY(
import collections, os, torch, torch.nn as nn
d = sys.argv[1]
torch.manual_seed(0)
names = ['float32','float64','float16','bfloat16','int8','uint8','int16','int32','int64','bool','complex64','complex128']
if hasattr(torch, 'float8_e4m3fn'): names += ['float8_e4m3fn', 'float8_e5m2']
dt = {}
for n in names:
    dtype = getattr(torch, n)
    if dtype.is_complex: dt[n] = torch.randn(3, 4, dtype=dtype)
    elif dtype == torch.bool: dt[n] = torch.randn(3, 4) > 0
    elif dtype.is_floating_point: dt[n] = (torch.randn(3, 4) * 3).to(dtype)
    else: dt[n] = (torch.randn(3, 4) * 40).to(dtype)
base = torch.arange(24.).view(4, 6)
flat = base.view(-1)
views = {'base': base, 't': base.t(), 'row': base[2], 'col': base[:, 3], 'step': flat[::5],
         'block': base[1:3, 2:5], 'exp': flat[:1].expand(5), 'tt': base.t()[1:]}
seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
lin = nn.Linear(3, 2)
opt = torch.optim.Adam(lin.parameters(), lr=0.01, amsgrad=True)
for i in range(2):
    opt.zero_grad(); lin(torch.arange(12.).view(4, 3) / 10).pow(2).sum().backward(); opt.step()
obj = {
  'dtypes': dt, 'views': views, 'transposed': torch.randn(5, 3).t(),
  'scalar': torch.tensor(3.5), 'int_scalar': torch.tensor(7), 'empty': torch.empty(0), 'empty3': torch.zeros(2, 0, 3),
  'param': nn.Parameter(torch.ones(2, 2)), 'frozen': nn.Parameter(torch.zeros(3), requires_grad=False),
  'rg': torch.ones(2, requires_grad=True),
  'nested': {'i': 1, 'neg': -5, 'm32': -2**31, 'big': 2**70, 'nbig': -2**63, 'f': 0.5, 'ninf': float('-inf'),
             'z': -0.0, 's': 'ü\U0001f600 name', 'b': True, 'n': None, 'l': [1, 2.5, 'x', [[]]], 't0': (),
             't': (1, (2, 3)), 'bytes': b'\x00ab', 'd': {'a': {'b': -1}}},
  'seq_state': seq.state_dict(), 'adam': opt.state_dict(), 'lin_weight': lin.weight.detach(),
}
plain = dict(obj)
if np is not None:
    obj['np'] = {'f64': np.float64(0.0421), 'i64': np.int64(7), 'arr': np.arange(3.0), 'f32': np.float32(0.25)}
torch.save(obj, os.path.join(d, 'py_zip.pt'))
torch.save(obj, os.path.join(d, 'py_p4.pt'), pickle_protocol=4)
legacy = dict(plain)
legacy['dtypes'] = {k: v for k, v in dt.items() if not k.startswith('float8')}
torch.save(legacy, os.path.join(d, 'py_legacy.pt'), _use_new_zipfile_serialization=False)
print('=== zip'); print(dump_text(obj), end='')
print('=== legacy'); print(dump_text(legacy), end='')
)PY";

// Python's torch.load of one file, dumped.
const char* kPyRead = R"PY(
import torch
o = torch.load(sys.argv[1]) if not TORCH2 else torch.load(sys.argv[1], weights_only=False)
print('=== file'); print(dump_text(o), end='')
)PY";

TEST(TorchInterop, PythonWritesTorchlessReads) {
  REQUIRE_TORCH();
  TempDir dir;
  const auto s = sections(python(dir, "write.py", kPyWrite, dir.path().string()));
  ASSERT_TRUE(s.count("zip") && s.count("legacy"));
  ASSERT_GT(s.at("zip").size(), 60u);
  for (const char* f : {"py_zip.pt", "py_p4.pt", "py_legacy.pt"}) {
    SCOPED_TRACE(f);
    io::Checkpoint ck;
    ASSERT_NO_THROW(ck = io::load_checkpoint(dir / f));
    EXPECT_EQ(ck.format, std::string(f) == "py_legacy.pt" ? "legacy" : "zip");
    expect_same_lines(dump(ck.root), s.at(std::string(f) == "py_legacy.pt" ? "legacy" : "zip"), f);
    // A few facts asserted directly, beyond the dump.
    const ValuePtr v = ck.root->at("views");
    const void* id = v->at("base")->tensor.storage().id();
    for (const char* n : {"t", "row", "col", "step", "block", "tt"}) EXPECT_EQ(v->at(n)->tensor.storage().id(), id) << n;
    EXPECT_EQ(v->at("step")->tensor.strides(), (Shape{5}));
    EXPECT_EQ(ck.root->at("transposed")->tensor.strides(), (Shape{1, 3}));
    EXPECT_EQ(ck.root->at("param")->cls, io::kParameterClass);
    EXPECT_TRUE(ck.root->at("param")->tensor.requires_grad());
    EXPECT_FALSE(ck.root->at("frozen")->tensor.requires_grad());
    // The Adam state loads into our Adam (amsgrad).
    Tensor w = ck.root->at("lin_weight")->tensor.clone();
    Tensor b = zeros({2});
    optim::AdamOptions o;
    o.amsgrad = true;
    optim::Adam opt({w, b}, o);
    ASSERT_NO_THROW(opt.load_state_dict(ck.root->at("adam")));
    EXPECT_EQ(opt.state(0).step, 2);
    EXPECT_TRUE(opt.state(1).max_exp_avg_sq.defined());
    EXPECT_DOUBLE_EQ(opt.param_groups()[0].options.lr, 0.01);
    if (ck.format == "zip" && ck.root->get("np")) {
      EXPECT_EQ(ck.root->at("np")->at("f64")->as_number(), 0.0421);
      EXPECT_EQ(ck.root->at("np")->at("i64")->as_int(), 7);
    }
  }
}

// ---------------------------------------------------------------------------
// (b) torchless writes, Python reads.
// ---------------------------------------------------------------------------
ValuePtr param_value(Tensor t, bool requires_grad) {
  t.set_requires_grad(requires_grad);
  ValuePtr v = Value::from_tensor(t);
  v->cls = io::kParameterClass;
  return v;
}

Tensor values_tensor(DType dt) {
  std::vector<double> vals;
  for (int i = 0; i < 12; ++i) {
    const double x = (i * 7 % 11) - 5.0;
    vals.push_back(dt == DType::Bool ? (i % 3 == 0) : is_floating(dt) ? x * 0.3125 : x * 9);
  }
  if (dt == DType::UInt8)
    for (auto& x : vals) x = std::abs(x);
  if (!is_complex(dt)) return from_vector(vals, {3, 4}, DType::Float64).to(dt);
  Tensor t = empty({3, 4}, dt);
  for (int i = 0; i < 12; ++i) {
    if (dt == DType::Complex64) {
      static_cast<float*>(t.raw_data())[2 * i] = static_cast<float>(vals[i]);
      static_cast<float*>(t.raw_data())[2 * i + 1] = static_cast<float>(-0.5 * i);
    } else {
      static_cast<double*>(t.raw_data())[2 * i] = vals[i];
      static_cast<double*>(t.raw_data())[2 * i + 1] = -0.5 * i;
    }
  }
  return t;
}

// A tree of everything torchless can write; `lin` gets 2 Adam steps.
ValuePtr build_tree(bool with_float8) {
  auto root = Value::dict();
  auto dts = Value::dict();
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int8, DType::UInt8,
                   DType::Int16, DType::Int32, DType::Int64, DType::Bool, DType::Complex64, DType::Complex128,
                   DType::Float8_e4m3fn, DType::Float8_e5m2}) {
    if (!with_float8 && (dt == DType::Float8_e4m3fn || dt == DType::Float8_e5m2)) continue;
    dts->set(std::string(dtype_name(dt)), Value::from_tensor(values_tensor(dt)));
  }
  root->set("dtypes", dts);
  Tensor base = arange(0, 24).view({4, 6});
  auto views = Value::dict();
  views->set("base", Value::from_tensor(base));
  views->set("t", Value::from_tensor(base.t()));
  views->set("row", Value::from_tensor(base.select(0, 2)));
  views->set("col", Value::from_tensor(base.select(1, 3)));
  views->set("step", Value::from_tensor(base.view({-1}).slice(0, 0, 24, 5)));
  views->set("block", Value::from_tensor(base.slice(0, 1, 3).slice(1, 2, 5)));
  views->set("exp", Value::from_tensor(base.view({-1}).slice(0, 0, 1).expand({5})));
  root->set("views", views);
  root->set("transposed", Value::from_tensor(arange(0, 15).view({5, 3}).t()));
  root->set("scalar", Value::from_tensor(scalar_tensor(3.5)));
  root->set("int_scalar", Value::from_tensor(scalar_tensor(7, DType::Int64)));
  root->set("empty", Value::from_tensor(empty({0})));
  root->set("empty3", Value::from_tensor(zeros({2, 0, 3})));
  root->set("param", param_value(ones({2, 2}), true));
  root->set("frozen", param_value(zeros({3}), false));
  auto nested = Value::dict();
  nested->set("i", Value::integer(1));
  nested->set("neg", Value::integer(-5));
  nested->set("nbig", Value::integer(INT64_MIN));
  nested->set("big", Value::big_integer(std::string(8, '\0') + "\x40"));  // 2**70
  nested->set("f", Value::floating(0.5));
  nested->set("ninf", Value::floating(-INFINITY));
  nested->set("z", Value::floating(-0.0));
  nested->set("s", Value::str("\xC3\xBC\xF0\x9F\x98\x80 name"));
  nested->set("b", Value::boolean(true));
  nested->set("n", Value::none());
  nested->set("l", Value::list({Value::integer(1), Value::floating(2.5), Value::str("x"), Value::list({Value::list()})}));
  nested->set("t", Value::tuple({Value::integer(1), Value::tuple({Value::integer(2), Value::integer(3)})}));
  nested->set("t0", Value::tuple());
  nested->set("bytes", Value::bytes(std::string("\0ab", 3)));
  root->set("nested", nested);
  nn::FashionClassifier fashion(0.0);
  root->set("fashion", nn::to_value(fashion.state_dict()));
  // Adam over a Linear(3, 2) (amsgrad, 2 steps).
  nn::Linear lin(3, 2);
  optim::AdamOptions o;
  o.lr = 0.01;
  o.amsgrad = true;
  optim::Adam opt(lin.parameters(), o);
  const Tensor x = arange(0, 12).view({4, 3}) * 0.1;
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    Tensor y = lin(x);
    sum(y * y).backward();
    opt.step();
  }
  root->set("lin", nn::to_value(lin.state_dict()));
  root->set("adam", opt.state_dict());
  return root;
}

const char* kPyCheckOurs = R"PY(
import torch, torch.nn as nn
path = sys.argv[1]
o = torch.load(path) if not TORCH2 else torch.load(path, weights_only=False)
print('=== file'); print(dump_text(o), end='')
print('=== checks')
v = o['views']
sp = sptr
assert all(sp(v[n]) == sp(v['base']) for n in ['t', 'row', 'col', 'step', 'block', 'exp'])
assert v['t'].stride() == (1, 6) and v['step'].stride() == (5,) and v['block'].storage_offset() == 8
assert v['exp'].stride() == (0,)
assert o['transposed'].stride() == (1, 3) and o['transposed'][2, 4].item() == 14
assert isinstance(o['param'], nn.Parameter) and o['param'].requires_grad
assert isinstance(o['frozen'], nn.Parameter) and not o['frozen'].requires_grad
assert o['dtypes']['bfloat16'].dtype == torch.bfloat16 and o['dtypes']['complex128'][0, 1].imag.item() == -0.5
assert o['nested']['big'] == 2**70 and o['nested']['s'] == 'ü\U0001f600 name' and o['nested']['nbig'] == -2**63
print('views ok')
class FashionClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512); self.fc2 = nn.Linear(512, 256); self.fc3 = nn.Linear(256, 128)
        self.fc4 = nn.Linear(128, 64); self.fc5 = nn.Linear(64, 10)
m = FashionClassifier()
r = m.load_state_dict(o['fashion'])
assert not r.missing_keys and not r.unexpected_keys
print('fashion ok')
lin = nn.Linear(3, 2)
lin.load_state_dict(o['lin'])
opt = torch.optim.Adam(lin.parameters(), lr=0.5, amsgrad=False)
opt.load_state_dict(o['adam'])
g = opt.param_groups[0]
assert g['lr'] == 0.01 and g['amsgrad'] is True, g
assert float(opt.state[lin.weight]['step']) == 2.0
before = lin.weight.detach().clone()
opt.zero_grad(); (lin(torch.arange(12.).view(4, 3) * 0.1) ** 2).sum().backward(); opt.step()
assert float(opt.state[lin.weight]['step']) == 3.0 and not torch.equal(before, lin.weight.detach())
print('adam ok')
if TORCH2:
    # Against a fresh full load: the checks above write into `o` on purpose.
    w, ref = dump_text(torch.load(path, weights_only=True)), dump_text(torch.load(path, weights_only=False))
    if w != ref:
        for a, b in zip(w.splitlines(), ref.splitlines()):
            if a != b:
                print('weights_only differs:', a, '|', b)
    assert w == ref
    print('weights_only ok')
else:
    print('weights_only skipped: torch %s weights_only lacks BINFLOAT' % torch.__version__)
)PY";

TEST(TorchInterop, TorchlessWritesPythonReads) {
  REQUIRE_TORCH();
  TempDir dir;
  const ValuePtr tree = build_tree(torch_has_float8());
  const std::string path = dir / "ours.pt";
  io::save(tree, path);
  const std::string out = python(dir, "check.py", kPyCheckOurs, path);
  const auto s = sections(out);
  ASSERT_TRUE(s.count("file")) << out;
  expect_same_lines(s.at("file"), dump(tree), "python's view of our file");
  const auto& checks = s.count("checks") ? s.at("checks") : std::vector<std::string>{};
  const std::string all = out;
  EXPECT_NE(all.find("views ok"), std::string::npos) << out;
  EXPECT_NE(all.find("fashion ok"), std::string::npos) << out;
  EXPECT_NE(all.find("adam ok"), std::string::npos) << out;
  if (torch_major() >= 2) {
    EXPECT_NE(all.find("weights_only ok"), std::string::npos) << out;
  } else {
    EXPECT_NE(all.find("weights_only skipped"), std::string::npos) << out;
    std::printf("[note] %s\n", checks.empty() ? "" : checks.back().c_str());
  }
  // And we read our own file back the same.
  expect_same_lines(dump(io::load(path)), dump(tree), "torchless reload");
}

// ---------------------------------------------------------------------------
// (c) load -> save -> load keeps the meaning; Python agrees.
// ---------------------------------------------------------------------------
TEST(TorchInterop, LoadSaveLoadRoundTrip) {
  REQUIRE_TORCH();
  TempDir dir;
  const auto s = sections(python(dir, "write.py", kPyWrite, dir.path().string()));
  ASSERT_TRUE(s.count("zip"));
  for (const char* f : {"py_zip.pt", "py_legacy.pt"}) {
    SCOPED_TRACE(f);
    const ValuePtr first = io::load(dir / f);
    const std::string again = dir / (std::string("re_") + f);
    io::save(first, again);
    const ValuePtr second = io::load(again);
    // A numpy array is written back as a tensor (torchless writes no numpy
    // globals): same values, kind T instead of N.
    auto strip_arr = [](std::vector<std::string> lines, std::string* arr_values) {
      std::vector<std::string> out;
      for (auto& l : lines) {
        if (l.rfind("/np/arr ", 0) == 0) {
          *arr_values = l.substr(l.find(" rg0 ") + 5);
          continue;
        }
        out.push_back(l);
      }
      return out;
    };
    std::string arr1, arr2;
    const auto want = strip_arr(dump(first), &arr1);
    expect_same_lines(strip_arr(dump(second), &arr2), want, "torchless reload");
    EXPECT_EQ(arr1, arr2);
    const auto theirs = sections(python(dir, "read.py", kPyRead, again));
    ASSERT_TRUE(theirs.count("file"));
    // numpy values come back as Python floats/ints and tensors (no numpy
    // globals are written), so compare Python's view with the original dump
    // except for the 'np' section, checked separately.
    std::vector<std::string> orig, back;
    for (const auto& l : s.at(std::string(f) == "py_legacy.pt" ? "legacy" : "zip"))
      if (l.rfind("/np", 0) != 0) orig.push_back(l);
    std::vector<std::string> np_lines;
    for (const auto& l : theirs.at("file")) (l.rfind("/np", 0) == 0 ? np_lines : back).push_back(l);
    if (std::string(f) == "py_zip.pt" && first->get("np")) {
      EXPECT_NE(std::find(np_lines.begin(), np_lines.end(), "/np/f64 V float " + fhex(0.0421)), np_lines.end());
      EXPECT_NE(std::find(np_lines.begin(), np_lines.end(), "/np/i64 V int 7"), np_lines.end());
    }
    expect_same_lines(back, orig, "python reading our re-save");
  }
}

// ---------------------------------------------------------------------------
// (d) Resuming a training run across frameworks, both ways.
// ---------------------------------------------------------------------------
const char* kPyResume = R"PY(
import torch, torch.nn as nn
torch.set_num_threads(1)
mode, path = sys.argv[1], sys.argv[2]
def data():
    x = torch.tensor([[((i * 7 + j * 3) % 11 - 5) / 4.0 for j in range(4)] for i in range(8)])
    y = torch.tensor([i % 3 for i in range(8)])
    return x, y
def make():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
def steps(m, opt, n):
    x, y = data()
    for _ in range(n):
        opt.zero_grad(); nn.functional.cross_entropy(m(x), y).backward(); opt.step()
if mode == 'train':
    torch.manual_seed(1)
    m = make(); opt = torch.optim.Adam(m.parameters(), lr=0.01)
    steps(m, opt, 3)
    torch.save({'epoch': 3, 'valid_loss_min': 0.25, 'state_dict': m.state_dict(), 'optimizer': opt.state_dict()}, path)
else:
    ck = torch.load(path) if not TORCH2 else torch.load(path, weights_only=True)
    m = make(); m.load_state_dict(ck['state_dict'])
    opt = torch.optim.Adam(m.parameters(), lr=123.0)
    opt.load_state_dict(ck['optimizer'])
    assert ck['epoch'] == 3
    steps(m, opt, 3)
    print('=== weights'); print(dump_text(m.state_dict()), end='')
)PY";

struct Net {
  std::shared_ptr<nn::Sequential> seq;
  Net() {
    seq = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 3)});
  }
};

void resume_steps(nn::Module& m, optim::Adam& opt, int n) {
  std::vector<double> x;
  std::vector<double> y;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) x.push_back(((i * 7 + j * 3) % 11 - 5) / 4.0);
    y.push_back(i % 3);
  }
  const Tensor xt = from_vector(x, {8, 4}, DType::Float32), yt = from_vector(y, {8}, DType::Int64);
  for (int s = 0; s < n; ++s) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(m(xt), yt);
    loss.backward();
    opt.step();
  }
}

// "/fc.weight T float32 ... v1 v2" lines of Python's dump -> values.
std::map<std::string, std::vector<double>> weights_from_dump(const std::vector<std::string>& lines) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& l : lines) {
    std::istringstream in(l);
    std::string path, kind, dtype, sizes, strides, off, g, nb, rg, hex;
    in >> path >> kind;
    if (kind != "T") continue;
    in >> dtype >> sizes >> strides >> off >> g >> nb >> rg;
    std::vector<double>& v = out[path.substr(1)];
    while (in >> hex) {
      double d = 0;
      unsigned char b[8];
      for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
      std::memcpy(&d, b, 8);
      v.push_back(d);
    }
  }
  return out;
}

void expect_weights_close(const nn::Module& m, const std::map<std::string, std::vector<double>>& theirs) {
  const nn::StateDict sd = m.state_dict();
  ASSERT_EQ(theirs.size(), sd.size());
  for (const auto& [k, t] : sd) {
    ASSERT_TRUE(theirs.count(k)) << k;
    const auto ours = t.to_vector();
    const auto& want = theirs.at(k);
    ASSERT_EQ(ours.size(), want.size()) << k;
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], want[i], 1e-6) << k << "[" << i << "]";
  }
}

TEST(TorchInterop, ResumePythonCheckpointInTorchless) {
  REQUIRE_TORCH();
  TempDir dir;
  const std::string ck = dir / "py_ck.pt";
  python(dir, "resume.py", kPyResume, "train " + ck);
  const auto theirs = sections(python(dir, "resume.py", kPyResume, "resume " + ck));
  ASSERT_TRUE(theirs.count("weights"));
  const ValuePtr root = io::load(ck, [] {
    io::LoadOptions o;
    o.safe = true;
    return o;
  }());
  EXPECT_EQ(root->at("epoch")->as_int(), 3);
  EXPECT_EQ(root->at("valid_loss_min")->as_number(), 0.25);
  Net net;
  ASSERT_TRUE(net.seq->load_state_dict(nn::state_dict_from_value(root->at("state_dict"))).ok());
  optim::AdamOptions o;
  o.lr = 123.0;  // replaced by the checkpoint's 0.01
  optim::Adam opt(net.seq->parameters(), o);
  opt.load_state_dict(root->at("optimizer"));
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options.lr, 0.01);
  EXPECT_EQ(opt.state(0).step, 3);
  resume_steps(*net.seq, opt, 3);
  expect_weights_close(*net.seq, weights_from_dump(theirs.at("weights")));
}

TEST(TorchInterop, ResumeTorchlessCheckpointInPython) {
  REQUIRE_TORCH();
  TempDir dir;
  Net net;
  optim::AdamOptions o;
  o.lr = 0.01;
  optim::Adam opt(net.seq->parameters(), o);
  resume_steps(*net.seq, opt, 3);
  auto root = Value::dict();
  root->set("epoch", Value::integer(3));
  root->set("valid_loss_min", Value::floating(0.25));
  root->set("state_dict", nn::to_value(net.seq->state_dict()));
  root->set("optimizer", opt.state_dict());
  const std::string ck = dir / "our_ck.pt";
  io::save(root, ck);
  resume_steps(*net.seq, opt, 3);  // torchless continues
  const auto theirs = sections(python(dir, "resume.py", kPyResume, "resume " + ck));
  ASSERT_TRUE(theirs.count("weights"));
  expect_weights_close(*net.seq, weights_from_dump(theirs.at("weights")));
}

// ---------------------------------------------------------------------------
// Broken and hostile files (no torch needed).
// ---------------------------------------------------------------------------
std::string error_of(const std::string& path, const io::LoadOptions& opt = {}) {
  try {
    io::load_checkpoint(path, opt);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// A zip checkpoint with the given data.pkl and records, as torch lays it out.
std::string make_zip(const std::string& pkl, const std::vector<std::pair<std::string, std::string>>& records) {
  io::StringSink sink;
  io::ZipWriter zip(sink, "archive", 64);
  zip.add("data.pkl", pkl);
  zip.add("byteorder", std::string_view("little"));
  for (const auto& [name, data] : records) zip.add(name, data);
  zip.add("version", std::string_view("3\n"));
  zip.finish();
  return sink.str();
}

std::string binunicode(const std::string& s) {
  std::string out = "X";
  const uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  return out + s;
}
std::string binint(int64_t v) {  // 'J' BININT (4 bytes) or LONG1 for larger
  if (v >= INT32_MIN && v <= INT32_MAX) {
    const int32_t x = static_cast<int32_t>(v);
    return "J" + std::string(reinterpret_cast<const char*>(&x), 4);
  }
  return "\x8a\x08" + std::string(reinterpret_cast<const char*>(&v), 8);
}
std::string int_tuple(const std::vector<int64_t>& xs) {
  std::string s = "(";
  for (auto x : xs) s += binint(x);
  return s + "t";
}

// data.pkl of one float tensor: _rebuild_tensor_v2(storage '0' of numel floats, offset, size, stride, False, OrderedDict())
std::string tensor_pickle(int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                          const std::vector<int64_t>& stride) {
  std::string p = "\x80\x02";
  p += "ctorch._utils\n_rebuild_tensor_v2\n(";
  p += "(" + binunicode("storage") + "ctorch\nFloatStorage\n" + binunicode("0") + binunicode("cpu") + binint(numel) + "tQ";
  p += binint(offset) + int_tuple(size) + int_tuple(stride) + "\x89" + "ccollections\nOrderedDict\n)R";
  p += "tR.";
  return p;
}

TEST(TorchInteropBadInput, HandMadeTensorPickleLoads) {
  // The hand-made layout itself is valid: the negative cases below differ in one thing each.
  TempDir dir;
  write_file(dir / "ok.pt", make_zip(tensor_pickle(6, 0, {2, 3}, {3, 1}), {{"data/0", std::string(24, '\0')}}));
  const ValuePtr v = io::load(dir / "ok.pt");
  ASSERT_TRUE(v->is_tensor());
  EXPECT_EQ(v->tensor.sizes(), (Shape{2, 3}));
}

TEST(TorchInteropBadInput, TruncatedFile) {
  TempDir dir;
  const std::string bytes = read_file(kData + "sequential_state_dict.pt");
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t cut : {bytes.size() * 97 / 100, bytes.size() - 1, bytes.size() - 22, bytes.size() / 2, size_t{100},
                     size_t{30}, size_t{5}}) {
    SCOPED_TRACE(cut);
    const std::string path = dir / ("cut_" + std::to_string(cut) + ".pt");
    write_file(path, bytes.substr(0, cut));
    const std::string e = error_of(path);
    EXPECT_TRUE(contains(e, path)) << e;
    EXPECT_TRUE(contains(e, "truncated")) << e;
  }
  // Legacy files too.
  const std::string legacy = read_file(kData + "legacy_state_dict.pt");
  for (size_t cut : {legacy.size() * 97 / 100, legacy.size() - 1, size_t{2000}}) {
    const std::string path = dir / ("legacy_cut_" + std::to_string(cut) + ".pt");
    write_file(path, legacy.substr(0, cut));
    const std::string e = error_of(path);
    EXPECT_TRUE(contains(e, path)) << e;
    EXPECT_TRUE(contains(e, "truncated")) << cut << ": " << e;
  }
}

TEST(TorchInteropBadInput, FlippedByteIsACrcError) {
  TempDir dir;
  std::string bytes = read_file(kData + "views.pt");
  const std::string rec = "views/data/0";
  const size_t name_at = bytes.find(rec);  // first occurrence: the local header
  ASSERT_NE(name_at, std::string::npos);
  const size_t header = name_at - 30;
  ASSERT_EQ(bytes.compare(header, 4, "PK\x03\x04"), 0);
  uint16_t extra = 0;
  std::memcpy(&extra, bytes.data() + header + 28, 2);
  const size_t data = name_at + rec.size() + extra;
  bytes[data + 5] = static_cast<char>(bytes[data + 5] ^ 0x10);
  write_file(dir / "flip.pt", bytes);
  const std::string e = error_of(dir / "flip.pt");
  EXPECT_TRUE(contains(e, "CRC")) << e;
  EXPECT_TRUE(contains(e, "data/0")) << e;
  EXPECT_TRUE(contains(e, dir / "flip.pt")) << e;
}

TEST(TorchInteropBadInput, TextFileIsNotACheckpoint) {
  TempDir dir;
  write_file(dir / "notes.txt", "epoch 3: loss 0.25\nthis is not a checkpoint\n");
  const std::string e = error_of(dir / "notes.txt");
  EXPECT_TRUE(contains(e, "not a torch checkpoint")) << e;
  EXPECT_TRUE(contains(e, dir / "notes.txt")) << e;
  write_file(dir / "empty.pt", "");
  EXPECT_TRUE(contains(error_of(dir / "empty.pt"), "not a torch checkpoint"));
}

TEST(TorchInteropBadInput, OsSystemIsRefusedOrInert) {
  TempDir dir;
  const std::string marker = dir / "pwned";
  // {'a': os.system('touch <marker>')}
  const std::string pkl = std::string("\x80\x02}") + binunicode("a") + "cos\nsystem\n" + binunicode("touch " + marker) +
                          "\x85R" + "s.";
  write_file(dir / "evil.pt", make_zip(pkl, {}));
  io::LoadOptions safe;
  safe.safe = true;
  const std::string e = error_of(dir / "evil.pt", safe);
  EXPECT_TRUE(contains(e, "os.system")) << e;
  EXPECT_TRUE(contains(e, dir / "evil.pt")) << e;
  ValuePtr root;
  ASSERT_NO_THROW(root = io::load(dir / "evil.pt"));
  const ValuePtr a = root->at("a");
  ASSERT_EQ(a->kind, K::Object);
  EXPECT_TRUE(a->callable->is_global("os", "system"));
  EXPECT_FALSE(std::ifstream(marker).good()) << "the pickle ran a command";
  // The posix spelling that CPython's pickle writes is refused too.
  const std::string pkl2 = std::string("\x80\x02") + "cposix\nsystem\n" + binunicode("touch " + marker) + "\x85R.";
  write_file(dir / "evil2.pt", make_zip(pkl2, {}));
  EXPECT_TRUE(contains(error_of(dir / "evil2.pt", safe), "posix.system"));
  EXPECT_NO_THROW(io::load(dir / "evil2.pt"));
  EXPECT_FALSE(std::ifstream(marker).good());
}

TEST(TorchInteropBadInput, TensorOutsideItsStorage) {
  TempDir dir;
  struct Case {
    const char* name;
    int64_t offset;
    std::vector<int64_t> size, stride;
  };
  for (const Case& c : {Case{"size", 0, {2, 3}, {3, 1}}, Case{"stride", 0, {2, 2}, {3, 1}},
                        Case{"offset", 3, {2}, {1}}, Case{"negative_offset", -1, {2}, {1}},
                        Case{"huge_stride", 0, {2}, {INT64_MAX / 2}}, Case{"negative_stride", 2, {2}, {-1}},
                        Case{"negative_size", 0, {-2}, {1}}, Case{"rank_mismatch", 0, {2}, {1, 1}}}) {
    SCOPED_TRACE(c.name);
    const std::string path = dir / (std::string(c.name) + ".pt");
    write_file(path, make_zip(tensor_pickle(4, c.offset, c.size, c.stride), {{"data/0", std::string(16, '\0')}}));
    const std::string e = error_of(path);
    EXPECT_FALSE(e.empty()) << "loaded a tensor reaching outside its storage";
    EXPECT_TRUE(contains(e, path)) << e;
  }
}

TEST(TorchInteropBadInput, StorageRecordLengthMismatch) {
  TempDir dir;
  for (size_t len : {size_t{12}, size_t{20}, size_t{0}}) {
    const std::string path = dir / ("len" + std::to_string(len) + ".pt");
    write_file(path, make_zip(tensor_pickle(4, 0, {4}, {1}), {{"data/0", std::string(len, '\0')}}));
    const std::string e = error_of(path);
    EXPECT_TRUE(contains(e, "data/0")) << e;
    EXPECT_TRUE(contains(e, "16")) << e;
  }
  // A huge claimed element count is an error, not an allocation.
  for (int64_t numel : {int64_t{1} << 40, int64_t{1} << 62, INT64_MAX}) {
    const std::string path = dir / "huge.pt";
    write_file(path, make_zip(tensor_pickle(numel, 0, {0}, {1}), {{"data/0", std::string()}}));
    EXPECT_FALSE(error_of(path).empty()) << numel;
  }
  // A missing record.
  write_file(dir / "missing.pt", make_zip(tensor_pickle(4, 0, {4}, {1}), {}));
  EXPECT_TRUE(contains(error_of(dir / "missing.pt"), "missing"));
}

TEST(TorchInteropBadInput, DeepNestingIsAnError) {
  TempDir dir;
  const std::string marks = "\x80\x02" + std::string(200000, '(') + ".";
  write_file(dir / "marks.pt", make_zip(marks, {}));
  std::string e = error_of(dir / "marks.pt");
  EXPECT_FALSE(e.empty());
  EXPECT_TRUE(contains(e, dir / "marks.pt")) << e;
  // 100000 nested lists: [[[[...]]]]
  const std::string lists = "\x80\x02" + std::string(100000, ']') + std::string(99999, 'a') + ".";
  write_file(dir / "lists.pt", make_zip(lists, {}));
  e = error_of(dir / "lists.pt");
  EXPECT_FALSE(e.empty()) << "100000-deep nesting loaded";
  // Nested dicts via SETITEM.
  std::string dicts = "\x80\x02}";
  for (int i = 0; i < 5000; ++i) dicts += binunicode("k") + "}";
  dicts += std::string(5000, 's') + ".";
  write_file(dir / "dicts.pt", make_zip(dicts, {}));
  EXPECT_FALSE(error_of(dir / "dicts.pt").empty());
}

}  // namespace
