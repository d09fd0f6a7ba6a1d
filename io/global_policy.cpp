#include "io/global_policy.h"

#include <unordered_set>

#include "io/unpickler.h"

namespace torchless::io {
namespace {

bool is_numpy(std::string_view g) { return g == "numpy" || g.substr(0, 6) == "numpy."; }

// torch.load(weights_only=True)'s default allowlist: torchless's, less the
// numpy names that torchless allows on purpose (io/unpickler.h).
const std::unordered_set<std::string>& torch_allowlist() {
  static const std::unordered_set<std::string> names = [] {
    std::unordered_set<std::string> s;
    for (const auto& g : default_safe_globals())
      if (!is_numpy(g)) s.insert(g);
    return s;
  }();
  return names;
}

struct Rule {
  const char* prefix;  // a module ("os": os.* too) or one global ("builtins.eval")
  const char* why;
};

// Globals known to run code when a pickle names them. A module entry covers
// every name in it and in its submodules. See global_policy.h for the sources.
constexpr Rule kExecutes[] = {
    // Processes and shell commands.
    {"os", "runs shell commands and touches files (os.system, os.popen, os.exec*)"},
    {"posix", "runs shell commands (os's implementation on POSIX)"},
    {"nt", "runs shell commands (os's implementation on Windows)"},
    {"subprocess", "starts processes"},
    {"_posixsubprocess", "starts processes (subprocess's implementation)"},
    {"_winapi", "starts processes (subprocess's implementation on Windows)"},
    {"pty", "starts processes on a terminal"},
    {"commands", "runs shell commands (Python 2)"},
    {"popen2", "runs shell commands (Python 2)"},
    {"platform", "runs shell commands (platform.popen)"},
    {"multiprocessing", "starts processes"},
    {"asyncio", "starts processes and opens connections"},
    {"_thread", "starts threads running any callable"},
    {"threading", "starts threads running any callable"},
    {"signal", "changes signal handlers"},
    {"sys", "changes the interpreter (sys.modules, sys.settrace; refused by torch even when allowed)"},
    // Evaluating code.
    {"builtins.eval", "evaluates Python code"},
    {"builtins.exec", "executes Python code"},
    {"builtins.execfile", "executes a Python file"},
    {"builtins.compile", "compiles Python code"},
    {"builtins.__import__", "imports any module"},
    {"builtins.getattr", "reaches any attribute (getattr(os, 'system'))"},
    {"builtins.setattr", "changes any attribute"},
    {"builtins.delattr", "deletes any attribute"},
    {"builtins.globals", "reaches the interpreter's globals"},
    {"builtins.locals", "reaches the interpreter's locals"},
    {"builtins.vars", "reaches any object's namespace"},
    {"builtins.open", "opens files"},
    {"builtins.input", "reads the terminal"},
    {"builtins.breakpoint", "starts the debugger"},
    {"builtins.apply", "calls any callable (Python 2)"},
    {"builtins.reload", "re-runs a module (Python 2)"},
    {"builtins.memoryview", "reads raw memory"},
    {"types", "builds functions and code objects (types.FunctionType, types.CodeType)"},
    {"code", "runs an interactive interpreter"},
    {"codeop", "compiles Python code"},
    {"runpy", "runs modules and files"},
    {"importlib", "imports any module"},
    {"imp", "imports any module (Python 2/3 legacy)"},
    {"pkgutil", "imports any module"},
    {"zipimport", "imports code from archives"},
    {"operator.attrgetter", "reaches any attribute"},
    {"operator.methodcaller", "calls any method"},
    {"ctypes", "calls native code"},
    {"_ctypes", "calls native code"},
    {"cffi", "calls native code"},
    {"timeit", "executes Python code (timeit.timeit(stmt))"},
    {"pdb", "runs the debugger on code"},
    {"bdb", "runs the debugger on code"},
    {"trace", "executes Python code"},
    {"profile", "executes Python code"},
    {"cProfile", "executes Python code"},
    {"pydoc", "imports any module and starts servers"},
    {"logging.config", "executes configuration code and opens sockets"},
    {"gc", "reaches every live object"},
    {"inspect", "reaches frames and source"},
    // Files and the network.
    {"io.open", "opens files"},
    {"io.open_code", "opens files"},
    {"io.FileIO", "opens files"},
    {"_io.open", "opens files"},
    {"_io.FileIO", "opens files"},
    {"codecs.open", "opens files"},
    {"fileinput", "reads files"},
    {"linecache", "reads files"},
    {"shutil", "copies, moves and deletes files"},
    {"tempfile", "creates files"},
    {"glob", "lists files"},
    {"tarfile", "extracts archives (writes files)"},
    {"zipfile", "extracts archives (writes files)"},
    {"shelve", "opens databases that hold pickles"},
    {"dbm", "opens database files"},
    {"sqlite3", "opens database files"},
    {"socket", "opens network connections"},
    {"_socket", "opens network connections"},
    {"ssl", "opens network connections"},
    {"select", "waits on sockets"},
    {"http", "opens network connections"},
    {"httplib", "opens network connections (Python 2)"},
    {"urllib", "downloads from the network"},
    {"urllib2", "downloads from the network (Python 2)"},
    {"requests", "downloads from the network"},
    {"httpx", "downloads from the network"},
    {"aiohttp", "downloads from the network"},
    {"ftplib", "opens network connections"},
    {"smtplib", "sends mail"},
    {"telnetlib", "opens network connections"},
    {"poplib", "opens network connections"},
    {"imaplib", "opens network connections"},
    {"nntplib", "opens network connections"},
    {"xmlrpc", "calls remote procedures"},
    {"webbrowser", "starts a browser"},
    // Nested loads: bytes unpickled again (what they hold is scanned too).
    {"pickle", "unpickles further data (any code)"},
    {"_pickle", "unpickles further data (any code)"},
    {"dill", "unpickles further data (any code)"},
    {"cloudpickle", "unpickles further data (any code)"},
    {"joblib", "unpickles further data (any code)"},
    {"marshal", "loads code objects"},
    {"torch.load", "loads a further checkpoint (torch.load re-entered, weights_only off)"},
    {"torch.serialization.load", "loads a further checkpoint (torch.load re-entered, weights_only off)"},
    {"torch.storage._load_from_bytes", "unpickles further bytes with torch.load (weights_only off)"},
    {"torch.jit", "loads TorchScript (runs its code)"},
    {"torch.hub", "downloads and runs code"},
    {"torch.package", "imports packaged code"},
    {"torch._dynamo", "compiles and runs code"},
    {"torch.fx", "builds and runs code"},
    {"torch._C._jit", "runs TorchScript"},
    {"torch.utils.cpp_extension", "compiles and loads native code"},
    {"numpy.load", "unpickles .npy object arrays (allow_pickle)"},
    {"numpy.testing", "executes code (numpy.testing._private.utils.runstring)"},
    {"numpy.f2py", "compiles and loads native code"},
    {"numpy.distutils", "runs shell commands"},
    {"pandas.read_pickle", "unpickles further data (any code)"},
    {"yaml.load", "constructs any Python object from YAML"},
    {"yaml.unsafe_load", "constructs any Python object from YAML"},
};

constexpr const char* kNestedLoaders[] = {
    "pickle.loads",        "pickle.load",          "_pickle.loads", "_pickle.load",
    "dill.loads",          "dill.load",            "cloudpickle.loads", "cloudpickle.load",
    "joblib.load",         "torch.load",           "torch.serialization.load",
    "torch.storage._load_from_bytes", "pandas.read_pickle", "numpy.load",
};

// True when `name` is `prefix` or lies inside it ("os" covers "os.path.join").
bool covers(std::string_view prefix, std::string_view name) {
  return name.substr(0, prefix.size()) == prefix && (name.size() == prefix.size() || name[prefix.size()] == '.');
}

const Rule* executes_rule(std::string_view g) {
  for (const Rule& r : kExecutes)
    if (covers(r.prefix, g)) return &r;
  return nullptr;
}

}  // namespace

GlobalRisk classify_global(std::string_view g) {
  if (executes_rule(g)) return GlobalRisk::Executes;
  if (torch_allowlist().count(std::string(g))) return GlobalRisk::Allowed;
  if (default_safe_globals().count(std::string(g))) return GlobalRisk::Numpy;
  return GlobalRisk::Unlisted;
}

std::string global_risk_reason(std::string_view g) {
  if (const Rule* r = executes_rule(g)) return r->why;
  switch (classify_global(g)) {
    case GlobalRisk::Allowed: return "in torch's weights_only allowlist";
    case GlobalRisk::Numpy:
      return "rebuilds a numpy value; torch.load(weights_only=True) needs torch.serialization.add_safe_globals for it";
    default: return "not in torch's weights_only allowlist: torch.load(weights_only=False) imports it, which runs "
                    "that module's code";
  }
}

bool loads_nested_pickle(std::string_view g) {
  for (const char* n : kNestedLoaders)
    if (g == n) return true;
  return false;
}

const char* risk_name(GlobalRisk r) {
  switch (r) {
    case GlobalRisk::Allowed: return "allowed";
    case GlobalRisk::Numpy: return "numpy";
    case GlobalRisk::Unlisted: return "unlisted";
    case GlobalRisk::Executes: return "executes";
  }
  return "unlisted";
}

}  // namespace torchless::io
