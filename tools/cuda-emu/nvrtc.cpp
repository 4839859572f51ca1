// libnvrtc.so.13 for the CUDA emulator: compiles a CUDA C program with g++ into a shared object the emulated
// driver (driver.cpp) loads. The program text is compiled as it is, after emu_device.h (threadIdx, __syncthreads,
// warp shuffles, shared memory, bfloat16, intrinsics); only `extern __shared__ T name[];` is rewritten to point at
// the block's dynamic shared memory, and a launch wrapper per __global__ function is appended. NVRTC's options are
// checked as NVRTC checks them (an unknown option or architecture is NVRTC_ERROR_INVALID_OPTION).
// "CUBIN" is the shared object behind a magic header; "PTX" is text naming each kernel (.entry NAME) with the same
// object in base64, so both paths of a caller work.
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))

enum {
    NVRTC_SUCCESS = 0, NVRTC_ERROR_OUT_OF_MEMORY = 1, NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2, NVRTC_ERROR_INVALID_INPUT = 3,
    NVRTC_ERROR_INVALID_PROGRAM = 4, NVRTC_ERROR_INVALID_OPTION = 5, NVRTC_ERROR_COMPILATION = 6,
    NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7, NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION = 8,
    NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION = 9, NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID = 10,
    NVRTC_ERROR_INTERNAL_ERROR = 11,
};

struct Program {
    std::string source, name;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string log, image, ptx;
    bool compiled = false, virtualArch = false;
    std::vector<std::string> names;
};

static std::string emu_dir() {
    Dl_info info;
    if (dladdr((void*)&emu_dir, &info) && info.dli_fname) {
        std::string p = info.dli_fname;
        auto s = p.rfind('/');
        if (s != std::string::npos) return p.substr(0, s);
    }
    return ".";
}

static std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

static std::vector<int> supported_archs() {
    std::vector<int> archs;
    const char* env = getenv("BERTSHARP_CUDA_EMU_NVRTC_ARCHS");
    std::string list = env && *env ? env : "75,80,86,87,88,89,90,100,103,110,120,121";
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) archs.push_back(atoi(item.c_str()));
    return archs;
}

API int nvrtcVersion(int* major, int* minor) {
    if (!major || !minor) return NVRTC_ERROR_INVALID_INPUT;
    *major = 13;
    *minor = 0;
    if (const char* v = getenv("BERTSHARP_CUDA_EMU_NVRTC_VERSION")) sscanf(v, "%d.%d", major, minor);
    return NVRTC_SUCCESS;
}

API int nvrtcGetNumSupportedArchs(int* n) {
    if (!n) return NVRTC_ERROR_INVALID_INPUT;
    *n = (int)supported_archs().size();
    return NVRTC_SUCCESS;
}

API int nvrtcGetSupportedArchs(int* archs) {
    if (!archs) return NVRTC_ERROR_INVALID_INPUT;
    auto a = supported_archs();
    for (size_t i = 0; i < a.size(); i++) archs[i] = a[i];
    return NVRTC_SUCCESS;
}

API const char* nvrtcGetErrorString(int r) {
    switch (r) {
    case 0: return "NVRTC_SUCCESS";
    case 1: return "NVRTC_ERROR_OUT_OF_MEMORY";
    case 2: return "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
    case 3: return "NVRTC_ERROR_INVALID_INPUT";
    case 4: return "NVRTC_ERROR_INVALID_PROGRAM";
    case 5: return "NVRTC_ERROR_INVALID_OPTION";
    case 6: return "NVRTC_ERROR_COMPILATION";
    case 7: return "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE";
    case 8: return "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION";
    case 9: return "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION";
    case 10: return "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID";
    case 11: return "NVRTC_ERROR_INTERNAL_ERROR";
    default: return "NVRTC_ERROR unknown";
    }
}

API int nvrtcCreateProgram(Program** prog, const char* src, const char* name, int numHeaders, const char* const* headers,
                           const char* const* includeNames) {
    if (!prog || !src || numHeaders < 0 || (numHeaders > 0 && (!headers || !includeNames))) return NVRTC_ERROR_INVALID_INPUT;
    Program* p = new Program();
    p->source = src;
    p->name = name && *name ? name : "default_program";
    for (int i = 0; i < numHeaders; i++) p->headers.emplace_back(includeNames[i], headers[i] ? headers[i] : "");
    *prog = p;
    return NVRTC_SUCCESS;
}

API int nvrtcDestroyProgram(Program** prog) {
    if (!prog || !*prog) return NVRTC_ERROR_INVALID_PROGRAM;
    delete *prog;
    *prog = nullptr;
    return NVRTC_SUCCESS;
}

// Comments and string literals blanked (same length), so scanning sees only code.
static std::string code_only(const std::string& s) {
    std::string o = s;
    size_t i = 0, n = s.size();
    while (i < n) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') o[i++] = ' ';
        } else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
            o[i] = o[i + 1] = ' ';
            i += 2;
            while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/')) { if (s[i] != '\n') o[i] = ' '; i++; }
            if (i < n) { o[i] = o[i + 1] = ' '; i += 2; }
        } else if (s[i] == '"' || s[i] == '\'') {
            char q = s[i++];
            while (i < n && s[i] != q) { if (s[i] == '\\') { i++; } if (i < n && s[i] != '\n') o[i] = ' '; i++; }
            i++;
        } else i++;
    }
    return o;
}

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

// The names of the __global__ functions, in order of appearance.
static std::vector<std::string> kernel_names(const std::string& code) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    size_t pos = 0;
    const std::string key = "__global__";
    while ((pos = code.find(key, pos)) != std::string::npos) {
        bool whole = (pos == 0 || !ident_char(code[pos - 1])) && !ident_char(code[pos + key.size()]);
        pos += key.size();
        if (!whole) continue;
        // A template kernel has no one address: skip it (its instantiations need names NVRTC's name expressions give).
        size_t back = pos - key.size();
        while (back > 0 && isspace((unsigned char)code[back - 1])) back--;
        if (back > 0 && code[back - 1] == '>') continue;
        size_t i = pos;
        std::string name;
        while (i < code.size()) {
            while (i < code.size() && isspace((unsigned char)code[i])) i++;
            if (i < code.size() && ident_char(code[i])) {
                size_t b = i;
                while (i < code.size() && ident_char(code[i])) i++;
                std::string id = code.substr(b, i - b);
                size_t j = i;
                while (j < code.size() && isspace((unsigned char)code[j])) j++;
                if (j < code.size() && code[j] == '(') {
                    if (id == "__launch_bounds__" || id == "__align__" || id == "__attribute__") {
                        int depth = 0;
                        for (i = j; i < code.size(); i++) {
                            if (code[i] == '(') depth++;
                            else if (code[i] == ')' && --depth == 0) { i++; break; }
                        }
                        continue;
                    }
                    name = id;
                    break;
                }
                continue;
            }
            if (i < code.size() && code[i] == '*') { i++; continue; }
            break;
        }
        if (!name.empty() && seen.insert(name).second) names.push_back(name);
    }
    return names;
}

// extern __shared__ T name[];  ->  the block's dynamic shared memory.
static std::string rewrite_extern_shared(const std::string& src) {
    std::string code = code_only(src);
    std::regex re(R"(extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s*)?([A-Za-z_][\w\s\*]*?)\s*\b([A-Za-z_]\w*)\s*\[\s*\]\s*;)");
    std::string out;
    size_t last = 0;
    for (auto it = std::sregex_iterator(code.begin(), code.end(), re); it != std::sregex_iterator(); ++it) {
        size_t at = (size_t)it->position(0), len = (size_t)it->length(0);
        int depth = 0;
        for (size_t k = 0; k < at; k++) depth += code[k] == '{' ? 1 : code[k] == '}' ? -1 : 0;
        std::string type = (*it)[1].str(), name = (*it)[2].str();
        out += src.substr(last, at - last);
        if (depth > 0) out += type + "* const " + name + " = (" + type + "*)bs_emu_module.dynamicShared;";
        else out += "\n#undef " + name + "\n#define " + name + " ((" + type + "*)bs_emu_module.dynamicShared)\n";
        last = at + len;
    }
    out += src.substr(last);
    return out;
}

static uint64_t fnv(const std::string& s, uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
    return h;
}

static std::string cache_dir() {
    if (const char* d = getenv("BERTSHARP_CUDA_EMU_CACHE"); d && *d) return d;
    if (const char* x = getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/bertsharp/cuda-emu";
    if (const char* h = getenv("HOME"); h && *h) return std::string(h) + "/.cache/bertsharp/cuda-emu";
    return "/tmp/bertsharp-cuda-emu-cache";
}

static void mkdirs(const std::string& path) {
    for (size_t i = 1; i <= path.size(); i++)
        if (i == path.size() || path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
}

static int run_compiler(const std::vector<std::string>& argv, const std::string& dir, std::string& log) {
    std::string errFile = dir + "/compiler.log";
    pid_t pid = fork();
    if (pid < 0) { log = "fork failed"; return -1; }
    if (pid == 0) {
        if (chdir(dir.c_str()) != 0) _exit(126);
        int fd = open(errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        std::vector<char*> a;
        for (auto& s : argv) a.push_back((char*)s.c_str());
        a.push_back(nullptr);
        execvp(a[0], a.data());
        fprintf(stderr, "error: the CUDA emulator's NVRTC runs %s to compile kernels, and it is not installed (apt-get install g++)\n", a[0]);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    log = read_file(errFile);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_tree(const std::string& dir) {
    std::string cmd = "rm -rf '" + dir + "'";
    if (system(cmd.c_str()) != 0) {}
}

static std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -6;
    for (unsigned char c : in) {
        val = (val << 8) + c;
        bits += 8;
        while (bits >= 0) { out.push_back(t[(val >> bits) & 0x3F]); bits -= 6; }
    }
    if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return out;
}

static bool starts(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

API int nvrtcCompileProgram(Program* p, int numOptions, const char* const* options) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (numOptions < 0 || (numOptions > 0 && !options)) return NVRTC_ERROR_INVALID_INPUT;
    p->log.clear();
    std::vector<std::string> cxx;
    std::string std_ = "-std=c++17";
    int arch = 52;
    bool virt = false;
    auto archs = supported_archs();
    arch = archs.empty() ? 75 : archs.front();
    std::vector<std::string> opts;
    for (int i = 0; i < numOptions; i++) opts.push_back(options[i] ? options[i] : "");
    for (size_t i = 0; i < opts.size(); i++) {
        std::string o = opts[i];
        auto value = [&](const char* longName, const char* shortName, std::string& v) {
            for (const char* n : {longName, shortName}) {
                if (!n) continue;
                std::string nm = n;
                if (o == nm && i + 1 < opts.size()) { v = opts[++i]; return true; }
                if (starts(o, (nm + "=").c_str())) { v = o.substr(nm.size() + 1); return true; }
            }
            return false;
        };
        std::string v;
        if (value("--gpu-architecture", "-arch", v)) {
            bool isVirtual = starts(v, "compute_"), isReal = starts(v, "sm_");
            int n = (isVirtual || isReal) ? atoi(v.c_str() + (isVirtual ? 8 : 3)) : -1;
            bool ok = false;
            for (int a : archs) ok |= a == n;
            if (!ok) {
                p->log = "nvrtc: error: invalid value for --gpu-architecture (-arch)\n";
                return NVRTC_ERROR_INVALID_OPTION;
            }
            arch = n;
            virt = isVirtual;
        } else if (value("--std", "-std", v)) {
            if (v != "c++03" && v != "c++11" && v != "c++14" && v != "c++17" && v != "c++20") {
                p->log = "nvrtc: error: invalid value for --std\n";
                return NVRTC_ERROR_INVALID_OPTION;
            }
            std_ = "-std=" + (v == "c++03" || v == "c++11" || v == "c++14" ? std::string("c++17") : v);
        } else if (value("--define-macro", "-D", v)) cxx.push_back("-D" + v);
        else if (starts(o, "-D") && o.size() > 2) cxx.push_back(o);
        else if (value("--undefine-macro", "-U", v)) cxx.push_back("-U" + v);
        else if (value("--include-path", "-I", v)) cxx.push_back("-I" + v);
        else if (starts(o, "-I") && o.size() > 2) cxx.push_back(o);
        else if (value("--pre-include", "-include", v)) { cxx.push_back("-include"); cxx.push_back(v); }
        else if (value("--fmad", "-fmad", v) || value("--prec-div", "-prec-div", v) || value("--prec-sqrt", "-prec-sqrt", v) ||
                 value("--ftz", "-ftz", v) || value("--relocatable-device-code", "-rdc", v) || value("--extensible-whole-program", "-ewp", v) ||
                 value("--device-debug", "-G", v) || value("--generate-line-info", "-lineinfo", v) || value("--dopt", "-dopt", v) ||
                 value("--maxrregcount", "-maxrregcount", v) || value("--ptxas-options", "-Xptxas", v) || value("--split-compile", "-split-compile", v) ||
                 value("--time", "-time", v) || value("--Werror", "-Werror", v)) {
            if (v != "true" && v != "false" && starts(o, "--fmad")) { p->log = "nvrtc: error: invalid value for --fmad\n"; return NVRTC_ERROR_INVALID_OPTION; }
        } else if (o == "-default-device" || o == "--device-as-default-execution-space" || o == "--use_fast_math" || o == "-use_fast_math" ||
                   o == "-G" || o == "--device-debug" || o == "-lineinfo" || o == "--generate-line-info" || o == "-w" || o == "--disable-warnings" ||
                   o == "--restrict" || o == "-restrict" || o == "--extra-device-vectorization" || o == "-extra-device-vectorization" ||
                   o == "-dlto" || o == "--dlink-time-opt" || o == "--Wreorder" || o == "-Wreorder" || o == "--minimal" || o == "-minimal" ||
                   o == "--std=c++17" || o == "-dw" || o == "--disable-warnings") {
        } else {
            p->log = "nvrtc: error: unrecognized option " + o + "\n";
            return NVRTC_ERROR_INVALID_OPTION;
        }
    }
    p->virtualArch = virt;
    std::string dir = emu_dir();
    std::string source = rewrite_extern_shared(p->source);
    std::string code = code_only(p->source);
    p->names = kernel_names(code);
    std::string full = source + "\n#line 1 \"<bertsharp-cuda-emu launch wrappers>\"\n";
    for (auto& n : p->names) full += "BS_EMU_WRAP(" + n + ")\n";
    full += "extern \"C\" __attribute__((visibility(\"default\"))) const bs_emu_kernel_t* bs_emu_get_kernels(int* n) {\n"
            "    static const bs_emu_kernel_t table[] = {";
    for (auto& n : p->names) full += "BS_EMU_DESCRIBE(" + n + "), ";
    full += "bs_emu_kernel_t()};\n    *n = " + std::to_string(p->names.size()) + ";\n    return table;\n}\n";

    std::string opt = getenv("BERTSHARP_CUDA_EMU_OPT") ? getenv("BERTSHARP_CUDA_EMU_OPT") : "-O1";
    std::string compiler = getenv("BERTSHARP_CUDA_EMU_CXX") ? getenv("BERTSHARP_CUDA_EMU_CXX") : "g++";
    std::string fname = p->name;
    for (char& c : fname) if (c == '/' || c == '\\') c = '_';
    if (fname.find('.') == std::string::npos) fname += ".cu";

    // Cache by everything that goes into the object.
    std::string key = full + "\x01" + std::to_string(arch) + std_ + opt + compiler + read_file(dir + "/emu_device.h") + read_file(dir + "/emu_abi.h");
    for (auto& c : cxx) key += "\x02" + c;
    for (auto& h : p->headers) key += "\x03" + h.first + "\x04" + h.second;
    char hex[40];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv(key));
    std::string cached = cache_dir() + "/" + hex + ".so";
    std::string so = read_file(cached);
    if (so.empty()) {
        char tmpl[] = "/tmp/bertsharp-nvrtc-XXXXXX";
        const char* t = getenv("TMPDIR");
        std::string base = std::string(t && *t ? t : "/tmp") + "/bertsharp-nvrtc-XXXXXX";
        std::vector<char> buf(base.begin(), base.end());
        buf.push_back(0);
        char* tmp = mkdtemp(buf.data());
        if (!tmp) tmp = mkdtemp(tmpl);
        if (!tmp) { p->log = "cannot create a temporary folder"; return NVRTC_ERROR_INTERNAL_ERROR; }
        std::string work = tmp;
        mkdirs(work + "/include");
        for (auto& h : p->headers) {
            std::string path = work + "/include/" + h.first;
            auto s = path.rfind('/');
            mkdirs(path.substr(0, s));
            std::ofstream(path, std::ios::binary) << h.second;
        }
        std::ofstream(work + "/" + fname, std::ios::binary) << full;
        std::vector<std::string> argv = {compiler, std_, opt, "-D__CUDA_ARCH__=" + std::to_string(arch * 10), "-g0", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-strict-aliasing",
                                         "-ffp-contract=off", "-fno-math-errno", "-fno-exceptions", "-w",
                                         "-include", dir + "/emu_device.h", "-I", dir, "-I", work + "/include", "-I", dir + "/include"};
        argv.insert(argv.end(), cxx.begin(), cxx.end());
        argv.insert(argv.end(), {"-x", "c++", fname, "-o", "module.so"});
        std::string log;
        int rc = run_compiler(argv, work, log);
        if (rc != 0) {
            p->log = log.empty() ? "compilation failed\n" : log;
            remove_tree(work);
            return NVRTC_ERROR_COMPILATION;
        }
        so = read_file(work + "/module.so");
        remove_tree(work);
        if (so.empty()) { p->log = "the compiler wrote no object"; return NVRTC_ERROR_INTERNAL_ERROR; }
        mkdirs(cache_dir());
        std::string part = cached + "." + std::to_string(getpid()) + ".tmp";
        std::ofstream(part, std::ios::binary) << so;
        rename(part.c_str(), cached.c_str());
    }
    static const char magic[8] = {'B', 'S', 'E', 'M', 'U', 'S', 'O', '1'};
    uint64_t n = so.size();
    p->image.assign(magic, 8);
    p->image.append((const char*)&n, 8);
    p->image += so;
    std::string ptx = "// BertSharp CUDA emulator module\n// Not PTX: a shared object for the emulated driver (tools/cuda-emu), in base64 below.\n";
    ptx += ".version 9.0\n.target sm_" + std::to_string(arch) + "\n.address_size 64\n";
    for (auto& k : p->names) ptx += ".visible .entry " + k + "()\n";
    ptx += "//so " + base64(so) + "\n";
    p->ptx = ptx;
    p->compiled = true;
    return NVRTC_SUCCESS;
}

API int nvrtcGetProgramLogSize(Program* p, size_t* size) {
    if (!p || !size) return NVRTC_ERROR_INVALID_INPUT;
    *size = p->log.size() + 1;
    return NVRTC_SUCCESS;
}

API int nvrtcGetProgramLog(Program* p, char* log) {
    if (!p || !log) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(log, p->log.c_str(), p->log.size() + 1);
    return NVRTC_SUCCESS;
}

API int nvrtcGetPTXSize(Program* p, size_t* size) {
    if (!p || !size) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    *size = p->ptx.size() + 1;
    return NVRTC_SUCCESS;
}

API int nvrtcGetPTX(Program* p, char* out) {
    if (!p || !out) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    memcpy(out, p->ptx.c_str(), p->ptx.size() + 1);
    return NVRTC_SUCCESS;
}

// As NVRTC: no CUBIN for a virtual architecture (compute_XY), only PTX.
API int nvrtcGetCUBINSize(Program* p, size_t* size) {
    if (!p || !size) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    *size = p->virtualArch ? 0 : p->image.size();
    return NVRTC_SUCCESS;
}

API int nvrtcGetCUBIN(Program* p, char* out) {
    if (!p || !out) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!p->virtualArch) memcpy(out, p->image.data(), p->image.size());
    return NVRTC_SUCCESS;
}

API int nvrtcAddNameExpression(Program* p, const char* name) {
    if (!p || !name) return NVRTC_ERROR_INVALID_INPUT;
    if (p->compiled) return NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION;
    return NVRTC_SUCCESS;
}

API int nvrtcGetLoweredName(Program* p, const char* name, const char** lowered) {
    if (!p || !name || !lowered) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION;
    *lowered = name;
    return NVRTC_SUCCESS;
}
