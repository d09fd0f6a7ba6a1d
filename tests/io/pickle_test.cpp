// Pickle reader/writer against independent truth: pickles made by CPython
// (every protocol, every opcode), torch's own data.pkl files, and Python's
// pickle.loads of what we write back.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unordered_set>

#include "io/pickler.h"
#include "io/unpickler.h"
#include "io/value.h"
#include "support/test_util.h"

#ifndef TORCHLESS_TEST_DATA
#define TORCHLESS_TEST_DATA "/work/main/tests/data"
#endif

namespace fs = std::filesystem;
using namespace torchless::io;
using K = Value::Kind;
using namespace std::string_literals;

using namespace torchless::test;  // support/test_util.h

namespace {

#define NEED_PYTHON() \
  if (!python_has_torch()) GTEST_SKIP() << TORCHLESS_PYTHON << " cannot import torch"

// One directory for the whole run (the Python corpus lands there).
fs::path temp_dir() {
  static const TempDir dir("torchless_pickle_");
  return dir.path();
}

// Runs a Python script (with the temp dir as argv[1]) and returns stdout.
std::string python(const std::string& script) {
  fs::path file = temp_dir() / "script.py";
  write_file(file, script);
  const auto r = run_command(std::string(TORCHLESS_PYTHON) + " " + file.string() + " " + temp_dir().string() + " 2>&1");
  if (r.rc != 0) throw std::runtime_error("python failed:\n" + r.out);
  return r.out;
}

// Pickles can be cyclic; cut every edge so the tree is freed (and LSan is quiet).
void free_tree(const ValuePtr& root) {
  std::vector<ValuePtr> todo{root}, all;
  std::unordered_set<const Value*> seen;
  while (!todo.empty()) {
    ValuePtr v = todo.back();
    todo.pop_back();
    if (!v || !seen.insert(v.get()).second) continue;
    all.push_back(v);
    for (auto& c : v->items) todo.push_back(c);
    for (auto& [k, x] : v->entries) { todo.push_back(k); todo.push_back(x); }
    todo.push_back(v->callable);
    todo.push_back(v->args);
    todo.push_back(v->state);
  }
  for (auto& v : all) {
    v->items.clear();
    v->entries.clear();
    v->callable.reset();
    v->args.reset();
    v->state.reset();
  }
}

// Stand-in for the torch layer: persistent ids stay visible as marker objects
// so that pickle() can write them back unchanged.
ValuePtr pid_marker(const ValuePtr& pid) {
  return Value::object(Value::global("torchless.test", "pid"), pid);
}
UnpickleOptions marker_load_options() {
  UnpickleOptions o;
  o.persistent_load = [](const ValuePtr& pid) { return pid_marker(pid); };
  return o;
}
PickleOptions marker_save_options() {
  PickleOptions o;
  o.persistent_id = [](const ValuePtr& v) -> std::optional<ValuePtr> {
    if (v->kind == K::Object && v->callable && v->callable->is_global("torchless.test", "pid")) return v->args;
    return std::nullopt;
  };
  return o;
}

std::string error_of(std::string_view bytes, const UnpickleOptions& o = {}) {
  try {
    free_tree(unpickle(bytes, o));
  } catch (const UnpickleError& e) {
    return e.what();
  }
  return "";
}

std::string bin(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// ---------------------------------------------------------------------------
// The Python corpus: every protocol, plus hand-made pickles for the opcodes
// CPython 3 never writes. Files land in the temp dir.

const char* kHelperModule = R"PY(
class WithReduce:
    def __init__(self, a, b): self.a, self.b = a, b
    def __reduce__(self): return (WithReduce, (self.a, self.b))
    def __repr__(self): return 'WithReduce(%r, %r)' % (self.a, self.b)

class WithDict:
    def __init__(self): self.x = 1; self.y = [1, 2]
    def __repr__(self): return 'WithDict(%r)' % (self.__dict__,)

class WithNewArgsEx:
    def __new__(cls, a, k=0):
        o = object.__new__(cls); o.a = a; o.k = k; return o
    def __getnewargs_ex__(self): return ((self.a,), {'k': self.k})
    def __repr__(self): return 'WithNewArgsEx(%r, k=%r)' % (self.a, self.k)

class Marker:
    pass
)PY";

const char* kCorpusScript = R"PY(
import sys, os, pickle, pickletools, collections, copyreg, io, math
d = sys.argv[1]
sys.path.insert(0, d)
from pkhelper import WithReduce, WithDict, WithNewArgsEx, Marker

shared = [1, 2]
rec_list = []; rec_list.append(rec_list)
rec_tuple = []; rec_tuple.append((rec_tuple, 1))
rec_tuple4 = []; rec_tuple4.append((rec_tuple4, 1, 2, 3))
CASES = {
 'none': None, 'true': True, 'false': False,
 'ints': [0, 1, 255, 256, 65535, 65536, -1, -255, -256, -2**31, 2**31 - 1, 2**31, -2**31 - 1,
          2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, 2**100, -2**100, 2**2100, -(2**2100)],
 'floats': [0.0, -0.0, 1.5, -2.25, 0.1, 1e-300, 5e-324, 1.7976931348623157e308, 1e16, 1e15,
            9999999999999998.0, 1e-5, 1e-4, 123456.789, 1/3, float('inf'), float('-inf')],
 'nan': float('nan'),
 'strs': ['', 'a', 'abc', 'h\u00e9llo', '\u65e5\u672c\u8a9e', '\U0001F600 emoji', "it's", 'say "hi"',
          'both \' and "', 'tab\tnl\nback\\', 'x' * 300],
 'bytes': [b'', b'abc', bytes(range(256)), b'x' * 300, b"'"],
 'bytearrays': [bytearray(b'xy\x00\xff'), bytearray()],
 'tuples': [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((),)],
 'nested': {'a': {'b': [1, {'c': (2, [3])}]}, 'l': [[], [[]]]},
 'shared': {'x': shared, 'y': shared},
 'sets': [set(), {1, 2, 3}, frozenset(), frozenset({'a'})],
 'odict': collections.OrderedDict([('x', 1), ('y', [2])]),
 'odict_empty': collections.OrderedDict(),
 'counter': collections.Counter({'a': 2}),
 'reduce_obj': WithReduce(1, 'two'),
 'dict_obj': WithDict(),
 'newargs_ex': WithNewArgsEx(5, k=6),
 'complex': complex(1.5, -2),
 'keys': {1: 'a', -5: 'b', (1, 2): 'c', None: 'd', 2.5: 'e', b'k': 'f', True: 'g'},
 'dict1001': {str(i): i for i in range(1001)},
 'dict1000': {i: i for i in range(1000)},
 'list2001': list(range(2001)),
 'rec_list': rec_list,
 'rec_tuple': rec_tuple,
 'rec_tuple4': rec_tuple4,
 'global': collections.OrderedDict,
 'func': math.sqrt,
}
ops = set()
def note(b):
    for op, arg, pos in pickletools.genops(b):
        ops.add(op.name)

with open(os.path.join(d, 'expected.txt'), 'w') as f:
    for k, v in CASES.items():
        f.write('%s\t%r\n' % (k, v))
for proto in range(6):
    b = pickle.dumps(CASES, protocol=proto)
    note(b)
    open(os.path.join(d, 'p%d.pkl' % proto), 'wb').write(b)

class PidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Marker):
            return 'key1' if self.proto == 0 else ('storage', 'key1')
        return None
for proto in range(6):
    buf = io.BytesIO()
    p = PidPickler(buf, protocol=proto); p.proto = proto
    p.dump([Marker(), 'after'])
    note(buf.getvalue())
    open(os.path.join(d, 'pers%d.pkl' % proto), 'wb').write(buf.getvalue())

copyreg.add_extension('pkhelper', 'WithReduce', 1)
copyreg.add_extension('pkhelper', 'WithDict', 300)
copyreg.add_extension('pkhelper', 'Marker', 70000)
for name, obj in [('ext1', WithReduce), ('ext2', WithDict), ('ext4', Marker)]:
    b = pickle.dumps(obj, protocol=2); note(b)
    open(os.path.join(d, name + '.pkl'), 'wb').write(b)

bufs = []
b = pickle.dumps([pickle.PickleBuffer(b'ro'), pickle.PickleBuffer(bytearray(b'rw'))], protocol=5,
                 buffer_callback=lambda pb: False)
note(b)
open(os.path.join(d, 'oob.pkl'), 'wb').write(b)

HAND = {
 'inst': b"(K\x01K\x02i__builtin__\ncomplex\n.",
 'inst_odict': b"(icollections\nOrderedDict\n.",
 'obj': b"(ccollections\nOrderedDict\no.",
 'dup': b"(]2t.",
 'string': b"S'a\\x41\\n\\'q\\101'\n.",
 'binstring': b"T\x03\x00\x00\x00abc.",
 'short_binstring': b"U\x03abc.",
 'pop': b"K\x01K\x020.",
 'pop_mark': b"K\x01(K\x02K\x031.",
 'pop_a_mark': b"K\x01(0.",
 'binunicode8': b"\x80\x04\x8d\x03\x00\x00\x00\x00\x00\x00\x00abc.",
 'binbytes8': b"\x80\x04\x8e\x02\x00\x00\x00\x00\x00\x00\x00xy.",
 'readonly_buffer': b"\x80\x05C\x02ab\x98.",
 'long4': b"\x8b\x02\x00\x00\x00\xff\x7f.",
 'dict_op': b"(K\x01K\x02K\x03K\x04d.",
 'list_op': b"(K\x01K\x02l.",
 'stack_global': b"\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93)R.",
}
for k, b in HAND.items():
    note(b)
    open(os.path.join(d, 'hand_%s.pkl' % k), 'wb').write(b)
print(' '.join(sorted(ops)))
)PY";

// Loads each rt_*.pkl we wrote and the Python original it came from, and
// reports whether repr(pickle.loads(...)) agrees.
const char* kVerifyScript = R"PY(
import sys, os, pickle, glob
d = sys.argv[1]
sys.path.insert(0, d)
import pkhelper
for rt in sorted(glob.glob(os.path.join(d, 'rt_*.pkl'))):
    name = os.path.basename(rt)[3:]
    orig = os.path.join(d, name)
    try:
        a = repr(pickle.loads(open(rt, 'rb').read()))
        b = repr(pickle.loads(open(orig, 'rb').read()))
        print(('OK ' if a == b else 'MISMATCH ') + name + ('' if a == b else '\n  ours: ' + a[:300] + '\n  orig: ' + b[:300]))
    except Exception as e:
        print('ERROR ' + name + ': ' + repr(e))
)PY";

struct Corpus {
  std::set<std::string> opcodes;
  std::map<std::string, std::string> expected_repr;
};
const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    write_file(temp_dir() / "pkhelper.py", kHelperModule);
    std::istringstream ops(python(kCorpusScript));
    for (std::string op; ops >> op;) c.opcodes.insert(op);
    std::istringstream exp(read_file(temp_dir() / "expected.txt"));
    for (std::string line; std::getline(exp, line);) {
      auto tab = line.find('\t');
      c.expected_repr[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return c;
  }();
  return c;
}

// Unpickles every file in the corpus with names matching `prefix`, writes
// rt_<name> back, and asks Python whether the round trip preserved repr.
void round_trip_and_verify(const std::vector<std::string>& names) {
  for (const auto& n : names) {
    ValuePtr v = unpickle(read_file(temp_dir() / n));
    write_file(temp_dir() / ("rt_" + n), pickle(v));
    free_tree(v);
  }
  std::string report = python(kVerifyScript);
  std::istringstream in(report);
  size_t ok = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("OK ", 0) == 0) ++ok;
    else if (line.rfind("  ", 0) != 0) ADD_FAILURE() << line;
  }
  EXPECT_GE(ok, names.size()) << report;
  for (const auto& n : names) fs::remove(temp_dir() / ("rt_" + n));
}

// ---------------------------------------------------------------------------

TEST(Value, ReprLikePython) {
  ValuePtr d = Value::dict();
  d->set("epoch", Value::integer(3));
  d->set("valid_loss_min", Value::floating(0.25));
  d->set("l", Value::list({Value::integer(1), Value::floating(2.5)}));
  d->set("t", Value::tuple({Value::integer(1)}));
  EXPECT_EQ(repr(d), "{'epoch': 3, 'valid_loss_min': 0.25, 'l': [1, 2.5], 't': (1,)}");
  EXPECT_EQ(repr(Value::bytes("a'\n\x01")), "b\"a'\\n\\x01\"");
  EXPECT_EQ(repr(Value::list({Value::none(), Value::boolean(true), Value::boolean(false)})), "[None, True, False]");
  EXPECT_EQ(repr(Value::global("torch", "float32")), "torch.float32");
  EXPECT_EQ(repr(Value::object(Value::global("torch", "Size"), Value::tuple({Value::tuple({Value::integer(2)})}))),
            "torch.Size((2,))");
  EXPECT_EQ(repr(Value::floating(1e16)), "1e+16");
  EXPECT_EQ(repr(Value::floating(1e15)), "1000000000000000.0");
  EXPECT_EQ(repr(Value::floating(-0.0)), "-0.0");
  EXPECT_EQ(repr(Value::floating(1e-5)), "1e-05");
  EXPECT_EQ(repr(Value::floating(0.0001)), "0.0001");
  EXPECT_EQ(repr(Value::big_integer(std::string("\x00\x00\x00\x00\x00\x00\x00\x80\x00", 9))), "9223372036854775808");
  EXPECT_EQ(repr(Value::big_integer(std::string("\x00\x00\x00\x00\x00\x00\x00\x00\xff", 9))), "-18446744073709551616");
}

TEST(Value, DictAccess) {
  ValuePtr d = Value::dict();
  d->set("a", Value::integer(1));
  d->set(Value::integer(7), Value::str("seven"));
  d->set("b", Value::integer(2));
  d->set("a", Value::integer(10));  // replaces, keeps position
  ASSERT_EQ(d->entries.size(), 3u);
  EXPECT_EQ(d->entries[0].second->as_int(), 10);
  EXPECT_EQ(d->keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d->at("b")->as_int(), 2);
  EXPECT_EQ((*d)["a"]->as_number(), 10.0);
  EXPECT_EQ(d->get("zz"), nullptr);
  try {
    d->at("foo");
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "no key 'foo' (keys: 'a', 7, 'b')");
  }
  d->set(Value::integer(7), Value::str("SEVEN"));
  EXPECT_EQ(d->entries[1].second->as_str(), "SEVEN");
  EXPECT_THROW(Value::str("x")->as_int(), std::runtime_error);
  EXPECT_THROW(Value::integer(1)->as_str(), std::runtime_error);
  EXPECT_THROW(Value::list()->as_number(), std::runtime_error);
  EXPECT_EQ(Value::boolean(true)->as_number(), 1.0);
  EXPECT_EQ(Value::dict("collections.OrderedDict")->kind_name(), "dict collections.OrderedDict");
  EXPECT_EQ(Value::object(Value::global("a.b", "C"), nullptr)->kind_name(), "object a.b.C");
  EXPECT_TRUE(Value::global("torch", "Size")->is_global("torch", "Size"));
}

TEST(Pickler, IntEncodingsMatchCPython) {
  auto body = [](int64_t x) {
    std::string p = pickle(Value::integer(x));
    return p.substr(2, p.size() - 3);
  };
  EXPECT_EQ(body(0), bin({'K', 0}));
  EXPECT_EQ(body(255), bin({'K', 255}));
  EXPECT_EQ(body(256), bin({'M', 0, 1}));
  EXPECT_EQ(body(-1), bin({'J', 255, 255, 255, 255}));
  EXPECT_EQ(body(70000), bin({'J', 0x70, 0x11, 1, 0}));
  EXPECT_EQ(body(int64_t(1) << 31), bin({0x8a, 5, 0, 0, 0, 0x80, 0}));
  EXPECT_EQ(body(int64_t(1) << 40), bin({0x8a, 6, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(body(INT64_MIN), bin({0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80}));
  EXPECT_THROW(pickle(Value::from_tensor({})), PickleError);
  EXPECT_THROW(pickle(Value::from_storage({}, torchless::DType::Float32)), PickleError);
}

TEST(Pickler, CycleThroughTupleOnlyIsRefused) {
  ValuePtr t = Value::tuple();
  t->items.push_back(t);
  EXPECT_THROW(pickle(t), PickleError);
  t->items.clear();
}

TEST(Unpickle, EveryOpcodeIsExercised) {
  NEED_PYTHON();
  const char* all[] = {"MARK", "STOP", "POP", "POP_MARK", "DUP", "FLOAT", "INT", "BININT", "BININT1", "LONG",
                       "BININT2", "NONE", "PERSID", "BINPERSID", "REDUCE", "STRING", "BINSTRING",
                       "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "APPEND", "BUILD", "GLOBAL", "DICT",
                       "EMPTY_DICT", "APPENDS", "GET", "BINGET", "INST", "LONG_BINGET", "LIST", "EMPTY_LIST",
                       "OBJ", "PUT", "BINPUT", "LONG_BINPUT", "SETITEM", "TUPLE", "EMPTY_TUPLE", "SETITEMS",
                       "BINFLOAT", "PROTO", "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3",
                       "NEWTRUE", "NEWFALSE", "LONG1", "LONG4", "BINBYTES", "SHORT_BINBYTES",
                       "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET", "ADDITEMS", "FROZENSET",
                       "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8", "NEXT_BUFFER",
                       "READONLY_BUFFER"};
  for (const char* op : all) EXPECT_TRUE(corpus().opcodes.count(op)) << op << " is not in the test corpus";
}

TEST(Unpickle, EveryProtocolDecodesLikePython) {
  NEED_PYTHON();
  const auto& exp = corpus().expected_repr;
  for (int proto = 0; proto <= 5; ++proto) {
    SCOPED_TRACE("protocol " + std::to_string(proto));
    ValuePtr v = unpickle(read_file(temp_dir() / ("p" + std::to_string(proto) + ".pkl")));
    ASSERT_EQ(v->kind, K::Dict);
    // Values whose Python repr is also ours.
    for (const char* key : {"none", "true", "false", "ints", "floats", "nan", "strs", "bytes", "bytearrays",
                            "tuples", "nested", "shared", "sets", "keys", "dict1001", "dict1000", "list2001",
                            "rec_list"}) {
      ASSERT_TRUE(v->get(key)) << key;
      EXPECT_EQ(repr(v->at(key), 100), exp.at(key)) << key;
    }
    EXPECT_EQ(v->at("true")->kind, K::Bool);
    EXPECT_EQ(v->at("ints")->items[14]->i, INT64_MIN);
    EXPECT_EQ(v->at("ints")->items[15]->kind, K::BigInt);  // 2**63
    EXPECT_TRUE(std::signbit(v->at("floats")->items[1]->f));
    EXPECT_EQ(v->at("bytearrays")->items[0]->cls, "builtins.bytearray");
    // shared references stay shared
    EXPECT_EQ(v->at("shared")->at("x").get(), v->at("shared")->at("y").get());
    EXPECT_EQ(v->at("rec_list")->items[0].get(), v->at("rec_list").get());
    const ValuePtr& rt = v->at("rec_tuple");
    EXPECT_EQ(rt->items[0]->items[0].get(), rt.get());
    EXPECT_EQ(v->at("sets")->items[1]->cls, "builtins.set");
    EXPECT_EQ(v->at("sets")->items[3]->cls, "builtins.frozenset");
    const ValuePtr& od = v->at("odict");
    EXPECT_EQ(od->cls, "collections.OrderedDict");
    EXPECT_EQ(repr(od), "OrderedDict({'x': 1, 'y': [2]})");
    EXPECT_EQ(v->at("counter")->cls, "collections.Counter");
    EXPECT_EQ(v->at("counter")->at("a")->as_int(), 2);
    const ValuePtr& ro = v->at("reduce_obj");
    ASSERT_EQ(ro->kind, K::Object);
    EXPECT_TRUE(ro->callable->is_global("pkhelper", "WithReduce"));
    EXPECT_EQ(repr(ro->args), "(1, 'two')");
    const ValuePtr& dob = v->at("dict_obj");
    ASSERT_EQ(dob->kind, K::Object);
    ASSERT_TRUE(dob->state);
    EXPECT_EQ(repr(dob->state), "{'x': 1, 'y': [1, 2]}");
    if (proto >= 2) {
      EXPECT_EQ(dob->cls, "__newobj__");
      EXPECT_TRUE(dob->callable->is_global("pkhelper", "WithDict"));
    } else {
      EXPECT_TRUE(dob->callable->is_global("copyreg", "_reconstructor"));  // mapped from copy_reg
    }
    EXPECT_EQ(repr(v->at("complex")), "builtins.complex(1.5, -2.0)");
    EXPECT_TRUE(v->at("func")->is_global("math", "sqrt"));
    EXPECT_TRUE(v->at("global")->is_global("collections", "OrderedDict"));
    if (proto >= 4) {
      EXPECT_EQ(v->at("newargs_ex")->cls, "__newobj_ex__");
    }
    free_tree(v);
  }
}

TEST(Unpickle, RoundTripThroughPythonPreservesValues) {
  NEED_PYTHON();
  corpus();
  std::vector<std::string> names;
  for (int p = 0; p <= 5; ++p) names.push_back("p" + std::to_string(p) + ".pkl");
  for (const char* h : {"inst", "inst_odict", "obj", "dup", "string", "binstring", "short_binstring", "pop",
                        "pop_mark", "pop_a_mark", "binunicode8", "binbytes8", "readonly_buffer", "long4",
                        "dict_op", "list_op", "stack_global"}) {
    names.push_back(std::string("hand_") + h + ".pkl");
  }
  round_trip_and_verify(names);
}

TEST(Unpickle, Protocol2FromCPythonIsRewrittenByteIdentically) {
  NEED_PYTHON();
  corpus();
  std::string orig = read_file(temp_dir() / "p2.pkl");
  ValuePtr v = unpickle(orig);
  EXPECT_EQ(pickle(v), orig);
  free_tree(v);
}

TEST(Unpickle, HandMadeOpcodes) {
  NEED_PYTHON();
  corpus();
  auto load = [](const std::string& n) { return unpickle(read_file(temp_dir() / ("hand_" + n + ".pkl"))); };
  ValuePtr dup = load("dup");
  EXPECT_EQ(dup->items[0].get(), dup->items[1].get());
  EXPECT_EQ(repr(load("string")), "\"aA\\n'qA\"");
  EXPECT_EQ(load("short_binstring")->as_str(), "abc");
  EXPECT_EQ(load("binstring")->as_str(), "abc");
  EXPECT_EQ(load("pop")->as_int(), 1);
  EXPECT_EQ(load("pop_mark")->as_int(), 1);
  EXPECT_EQ(load("pop_a_mark")->as_int(), 1);
  EXPECT_EQ(load("inst_odict")->cls, "collections.OrderedDict");
  EXPECT_EQ(load("obj")->cls, "collections.OrderedDict");
  EXPECT_EQ(repr(load("inst")), "builtins.complex(1, 2)");
  EXPECT_EQ(repr(load("binbytes8")), "b'xy'");
  EXPECT_EQ(repr(load("readonly_buffer")), "b'ab'");
  EXPECT_EQ(load("long4")->as_int(), 32767);
  EXPECT_EQ(repr(load("dict_op")), "{1: 2, 3: 4}");
  EXPECT_EQ(load("stack_global")->cls, "collections.OrderedDict");
  // py2 str that is not UTF-8 stays bytes
  EXPECT_EQ(repr(unpickle("U\x02\xff\xfe.")), "b'\\xff\\xfe'");
}

TEST(Unpickle, FloatDictKeysAsPythonSeesThem) {
  // {1: 'a', 1.0: 'b', -2.6e71: 'c', 0.5: 'd', nan: 'e'}: 1.0 is the key 1
  // in Python; -2.6e71 is out of int64's range (comparing it as an integer
  // was undefined behaviour, found by the fuzzer) and stays a float key.
  const auto binfloat = [](double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    std::string out = "G";
    for (int i = 7; i >= 0; --i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
    return out;
  };
  const auto str = [](const std::string& t) { return std::string("X") + char(t.size()) + std::string(3, '\0') + t; };
  const std::string pkl = std::string("\x80\x02}") + "K\x01" + str("a") + "s" + binfloat(1.0) + str("b") + "s" +
                          binfloat(-2.6e71) + str("c") + "s" + binfloat(0.5) + str("d") + "s" +
                          binfloat(std::nan("")) + str("e") + "s.";
  EXPECT_EQ(repr(unpickle(pkl)), "{1: 'b', -2.6e+71: 'c', 0.5: 'd', nan: 'e'}");
}

TEST(Unpickle, PersistentIds) {
  NEED_PYTHON();
  corpus();
  for (int proto = 0; proto <= 5; ++proto) {
    std::string bytes = read_file(temp_dir() / ("pers" + std::to_string(proto) + ".pkl"));
    UnpickleOptions o;
    o.persistent_load = [](const ValuePtr& pid) { return Value::str("loaded " + repr(pid)); };
    ValuePtr v = unpickle(bytes, o);
    EXPECT_EQ(repr(v), proto == 0 ? "[\"loaded 'key1'\", 'after']" : "[\"loaded ('storage', 'key1')\", 'after']");
    EXPECT_NE(error_of(bytes).find("persistent id but no persistent_load"), std::string::npos);
  }
}

TEST(Unpickle, UnsupportedFeaturesFailCleanly) {
  NEED_PYTHON();
  corpus();
  for (const char* n : {"ext1", "ext2", "ext4"}) {
    EXPECT_NE(error_of(read_file(temp_dir() / (std::string(n) + ".pkl"))).find("extension code"), std::string::npos) << n;
  }
  std::string e = error_of(read_file(temp_dir() / "oob.pkl"));
  EXPECT_NE(e.find("NEXT_BUFFER"), std::string::npos) << e;
  EXPECT_EQ(e.rfind("pickle: ", 0), 0u) << e;
}

// ---------------------------------------------------------------------------
// torch's own files

struct TorchPkl {
  std::string name;
  std::string bytes;
};
const std::vector<TorchPkl>& torch_pkls() {
  static const std::vector<TorchPkl> v = [] {
    std::string out = python(std::string(R"PY(
import sys, os, glob, zipfile
d = sys.argv[1]
for f in sorted(glob.glob(')PY") + TORCHLESS_TEST_DATA + R"PY(/torch-*/*.pt')):
    if not zipfile.is_zipfile(f): continue
    z = zipfile.ZipFile(f)
    n = [x for x in z.namelist() if x.endswith('/data.pkl')][0]
    tag = os.path.basename(os.path.dirname(f)) + '_' + os.path.basename(f)
    open(os.path.join(d, 'torch_' + tag + '.pkl'), 'wb').write(z.read(n))
    print(tag)
)PY");
    std::vector<TorchPkl> r;
    std::istringstream in(out);
    for (std::string tag; std::getline(in, tag);) {
      r.push_back({tag, read_file(temp_dir() / ("torch_" + tag + ".pkl"))});
    }
    return r;
  }();
  return v;
}

TEST(TorchFiles, ParseAndRewriteByteIdentically) {
  NEED_PYTHON();
  ASSERT_GE(torch_pkls().size(), 10u);
  for (const auto& f : torch_pkls()) {
    SCOPED_TRACE(f.name);
    ValuePtr v = unpickle(f.bytes, marker_load_options());
    std::string again = pickle(v, marker_save_options());
    bool protocol2 = static_cast<unsigned char>(f.bytes[1]) == 2;
    if (protocol2) {
      EXPECT_EQ(again.size(), f.bytes.size());
      EXPECT_TRUE(again == f.bytes) << "first difference at byte "
                                    << std::mismatch(again.begin(), again.end(), f.bytes.begin(), f.bytes.end()).first - again.begin();
    }
    // Whatever the protocol, reading our output gives the same tree.
    ValuePtr back = unpickle(again, marker_load_options());
    EXPECT_EQ(repr(back, 100), repr(v, 100));
    free_tree(v);
    free_tree(back);
  }
}

TEST(TorchFiles, StructureOfCheckpoints) {
  NEED_PYTHON();
  for (const auto& f : torch_pkls()) {
    ValuePtr v = unpickle(f.bytes, marker_load_options());
    if (f.name == "torch-2.11_fashion_checkpoint.pt") {
      EXPECT_EQ(v->keys(), (std::vector<std::string>{"epoch", "valid_loss_min", "state_dict", "optimizer"}));
      ValuePtr sd = v->at("state_dict");
      EXPECT_EQ(sd->cls, "collections.OrderedDict");
      ASSERT_TRUE(sd->state);  // _metadata arrives through BUILD
      ValuePtr meta = sd->state->at("_metadata");
      EXPECT_EQ(meta->cls, "collections.OrderedDict");
      EXPECT_EQ(meta->at("")->at("version")->as_int(), 1);
      ValuePtr w = sd->at("fc1.weight");
      ASSERT_EQ(w->kind, K::Object);
      EXPECT_TRUE(w->callable->is_global("torch._utils", "_rebuild_tensor_v2"));
      ValuePtr pid = w->args->items[0]->args;
      EXPECT_EQ(pid->items[0]->as_str(), "storage");
      EXPECT_TRUE(pid->items[1]->is_global("torch", "FloatStorage"));
    }
    if (f.name == "torch-1.13_numpy_values.pt") {
      ValuePtr epoch = v->at("epoch");
      ASSERT_EQ(epoch->kind, K::Object);
      EXPECT_TRUE(epoch->callable->is_global("numpy.core.multiarray", "scalar"));
      EXPECT_EQ(epoch->args->items[1]->kind, K::Bytes);
      EXPECT_EQ(epoch->args->items[1]->s, std::string("\x05\0\0\0\0\0\0\0", 8));
      EXPECT_EQ(repr(epoch->args->items[0]->state), "(3, '<', None, None, None, -1, -1, 0)");
    }
    free_tree(v);
  }
}

TEST(TorchFiles, LegacyFormatIsASequenceOfPickles) {
  std::string bytes = read_file(fs::path(TORCHLESS_TEST_DATA) / "torch-2.11/legacy_state_dict.pt");
  ASSERT_FALSE(bytes.empty());
  std::string_view rest = bytes;
  std::vector<ValuePtr> parts;
  for (int i = 0; i < 5; ++i) {
    size_t used = 0;
    parts.push_back(unpickle(rest, marker_load_options(), &used));
    rest.remove_prefix(used);
  }
  EXPECT_EQ(parts[0]->kind, K::BigInt);  // the magic number 0x1950a86a20f9469cfc6c
  EXPECT_EQ(repr(parts[0]), "119547037146038801333356");
  EXPECT_EQ(parts[1]->as_int(), 1001);
  EXPECT_EQ(parts[2]->at("protocol_version")->as_int(), 1001);
  EXPECT_EQ(parts[3]->cls, "collections.OrderedDict");
  EXPECT_EQ(parts[4]->kind, K::List);  // storage keys
  for (auto& p : parts) free_tree(p);
}

// ---------------------------------------------------------------------------
// safe mode

TEST(SafeMode, RefusesCodeExecutionGlobals) {
  UnpickleOptions safe;
  safe.safe = true;
  std::string os_system = "cos\nsystem\n(S'echo hacked'\ntR.";
  std::string e = error_of(os_system, safe);
  EXPECT_NE(e.find("refusing to load global os.system"), std::string::npos) << e;
  EXPECT_NE(e.find("at byte 0"), std::string::npos) << e;
  // allowlisting does not unblock os/sys/posix/nt
  safe.allowed_globals.insert("os.system");
  EXPECT_NE(error_of(os_system, safe).find("os.system"), std::string::npos);
  safe.allowed_globals = default_safe_globals();
  // Python 2 spelling is mapped before the check
  e = error_of("\x80\x02" "c__builtin__\neval\nX\x01\x00\x00\x00" "1\x85R."s, safe);
  EXPECT_NE(e.find("builtins.eval"), std::string::npos) << e;
  e = error_of("\x80\x04\x8c\x05posix\x8c\x06system\x93.", safe);
  EXPECT_NE(e.find("posix.system"), std::string::npos) << e;
  // Outside safe mode the same pickle is inert data.
  ValuePtr v = unpickle(os_system);
  ASSERT_EQ(v->kind, K::Object);
  EXPECT_TRUE(v->callable->is_global("os", "system"));
  EXPECT_EQ(repr(v), "os.system('echo hacked')");
}

TEST(SafeMode, AllowsOrdinaryCheckpoints) {
  NEED_PYTHON();
  UnpickleOptions safe = marker_load_options();
  safe.safe = true;
  for (const auto& f : torch_pkls()) {
    std::string e;
    try {
      free_tree(unpickle(f.bytes, safe));
    } catch (const UnpickleError& x) {
      e = x.what();
    }
    if (f.name.find("whole_module") != std::string::npos) {
      EXPECT_NE(e.find("__main__.Net"), std::string::npos) << e;
    } else {
      EXPECT_EQ(e, "") << f.name;
    }
  }
  EXPECT_TRUE(default_safe_globals().count("torch._utils._rebuild_tensor_v2"));
  EXPECT_TRUE(default_safe_globals().count("torch.BFloat16Storage"));
  EXPECT_TRUE(default_safe_globals().count("torch.bfloat16"));
  EXPECT_FALSE(default_safe_globals().count("builtins.eval"));
}

// ---------------------------------------------------------------------------
// hostile input

TEST(Hostile, EveryTruncationThrows) {
  NEED_PYTHON();
  for (const auto& f : torch_pkls()) {
    if (f.bytes.size() > 40000) continue;
    for (size_t n = 0; n < f.bytes.size(); ++n) {
      std::string_view cut(f.bytes.data(), n);
      std::string e = error_of(cut, marker_load_options());
      ASSERT_NE(e, "") << f.name << " cut at " << n;
    }
  }
}

TEST(Hostile, RandomByteFlipsThrowOrDecode) {
  NEED_PYTHON();
  std::mt19937 rng(1234);
  int decoded = 0, refused = 0;
  for (const auto& f : torch_pkls()) {
    if (f.bytes.size() > 40000) continue;
    for (int iter = 0; iter < 400; ++iter) {
      std::string b = f.bytes;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng() & 0xFF);
      try {
        ValuePtr v = unpickle(b, marker_load_options());
        repr(v);
        pickle(v, marker_save_options());
        free_tree(v);
        ++decoded;
      } catch (const UnpickleError&) {
        ++refused;
      } catch (const PickleError&) {
        ++decoded;
      }
    }
  }
  EXPECT_GT(decoded + refused, 3000);
  EXPECT_GT(refused, 0);
}

TEST(Hostile, DeepNestingIsRefusedQuickly) {
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(error_of(std::string(100000, '(')).find("too deep"), std::string::npos);
  std::string lists = "\x80\x02" + std::string(100000, ']') + std::string(99999, 'a') + ".";
  EXPECT_NE(error_of(lists).find("too deep"), std::string::npos);
  std::string tuples = "\x80\x02)" + std::string(100000, '\x85') + ".";
  EXPECT_NE(error_of(tuples).find("too deep"), std::string::npos);
  // Depth grown behind the eager check's back: a chain over list L0 (memo 0)
  // is memoized, then L0 itself gets a deep child appended.
  std::string stale = "\x80\x02]q\x00"s + std::string(900, '\x85') + "q\x01" + "0" + "h\x00"s + "]" +
                      std::string(900, '\x85') + "a0h\x01.";
  std::string e = error_of(stale);
  EXPECT_NE(e.find("too deep"), std::string::npos) << e;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 5000);
  // 1000 levels are fine
  std::string ok = "\x80\x02)" + std::string(999, '\x85') + ".";
  EXPECT_EQ(error_of(ok), "");
}

TEST(Hostile, HugeDeclaredLengthsDoNotAllocate) {
  auto u64 = [](uint64_t v) {
    std::string s;
    for (int k = 0; k < 8; ++k) s += static_cast<char>((v >> (8 * k)) & 0xFF);
    return s;
  };
  for (char op : {'\x8d', '\x8e', '\x96', '\x95'}) {
    std::string p = "\x80\x04" + std::string(1, op) + u64(uint64_t(1) << 62) + "abc.";
    std::string e = error_of(p);
    EXPECT_NE(e.find("declares 4611686018427387904 bytes"), std::string::npos) << e;
  }
  EXPECT_NE(error_of("X\xff\xff\xff\xff" "abc.").find("declares 4294967295 bytes"), std::string::npos);
  EXPECT_NE(error_of("\x8b\xff\xff\xff\x7f" "abc.").find("declares"), std::string::npos);
  EXPECT_NE(error_of("T\xff\xff\xff\xff" "abc.").find("negative length"), std::string::npos);
  // a huge memo index is just a key, not an array size
  EXPECT_EQ(error_of("\x80\x02Nr\xff\xff\xff\xff" "0j\xff\xff\xff\xff."), "");
  EXPECT_NE(error_of("I" + std::string(5000, '9') + "\n.").find("too long"), std::string::npos);
}

TEST(Hostile, MalformedStreams) {
  EXPECT_NE(error_of("\x80\x02](K\x01K\x02u.").find("SETITEMS applied to a list"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02)K\x01" "a.").find("APPEND applied to a tuple"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02h\x05.").find("memo key 5 was never stored at byte 2"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02" "a.").find("stack underflow"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02.").find("stack underflow"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02(.").find("stack underflow"), std::string::npos);
  EXPECT_EQ(error_of("\x80\x02\xff."), "pickle: unknown opcode 0xff at byte 2");
  EXPECT_NE(error_of("\x80\x02K\x01").find("no STOP"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02K").find("truncated"), std::string::npos);
  EXPECT_NE(error_of("\x80\x09N.").find("unsupported pickle protocol 9"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02K\x01K\x02R.").find("must be a tuple"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02(K\x01u.").find("stack underflow"), std::string::npos);
  // trailing data: ignored like pickle.loads, or refused on request
  EXPECT_EQ(error_of("N.garbage"), "");
  UnpickleOptions strict;
  strict.allow_trailing_data = false;
  EXPECT_NE(error_of("N.garbage", strict).find("7 bytes after STOP"), std::string::npos);
  // BUILD on a list
  EXPECT_NE(error_of("\x80\x02]}b.").find("BUILD applied to a list"), std::string::npos);
}

TEST(Hooks, ReduceAndBuildHooks) {
  UnpickleOptions o;
  int reduces = 0, builds = 0;
  o.reduce_hook = [&](const ValuePtr& fn, const ValuePtr& args) -> ValuePtr {
    ++reduces;
    if (fn->is_global("m", "f")) return Value::integer(static_cast<int64_t>(args->items.size()));
    return nullptr;
  };
  o.build_hook = [&](const ValuePtr& obj, const ValuePtr& state) -> ValuePtr {
    ++builds;
    if (obj->kind == K::Int) return Value::integer(obj->i + state->i);
    return nullptr;
  };
  // m.f(1, 2) BUILD 40 -> 2 + 40 ; OrderedDict() BUILD {'a': 1}
  ValuePtr v = unpickle("\x80\x02(cm\nf\nK\x01K\x02\x86RK(bccollections\nOrderedDict\n)R}X\x01\0\0\0aK\x01sbl."s, o);
  EXPECT_EQ(repr(v), "[42, OrderedDict({})]");
  EXPECT_EQ(repr(v->items[1]->state), "{'a': 1}");
  EXPECT_EQ(reduces, 2);
  EXPECT_EQ(builds, 2);
}

}  // namespace
