// libcuda.so.1 for the CUDA emulator: the driver API calls BertSharp's CudaApi.cs resolves (and a few more), on
// the CPU. Device memory is host memory behind guard pages; every stream operation is queued and runs at the next
// synchronisation point (stream order kept, as a GPU may run it late); a kernel launch runs block after block, each
// CUDA thread a fiber with real block and warp barriers (warp size 32). What it reports, as a sticky error the next
// checked call returns (with the detail in cuGetErrorString) and one stderr line naming the kernel:
// out-of-bounds and use-after-free accesses (guard pages + SIGSEGV), pointer arguments that are not device
// memory, __syncthreads or warp operations not reached by the whole block or warp, deadlocks, kernels that never
// finish (watchdog), overlapping or out-of-range copies, device assert/__trap.
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "emu_abi.h"

#define API extern "C" __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
enum {
    CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_OUT_OF_MEMORY = 2, CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4, CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200, CUDA_ERROR_INVALID_CONTEXT = 201, CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500, CUDA_ERROR_NOT_READY = 600, CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701, CUDA_ERROR_LAUNCH_TIMEOUT = 702, CUDA_ERROR_ASSERT = 710,
    CUDA_ERROR_ILLEGAL_INSTRUCTION = 715, CUDA_ERROR_LAUNCH_FAILED = 719, CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_UNKNOWN = 999,
};

// ------------------------------------------------------------------------------------------------ state

static std::recursive_mutex g_mu;
#define LOCK std::lock_guard<std::recursive_mutex> lock_(g_mu)
static bool g_init = false;
static CUresult g_sticky = CUDA_SUCCESS;   // a fault poisons the context, as on a GPU
static std::map<int, std::string> g_detail; // error code -> the last detail (cuGetErrorString appends it)
static const size_t PAGE = 4096;

static long env_long(const char* name, long fallback) {
    const char* v = getenv(name);
    return v && *v ? strtol(v, nullptr, 10) : fallback;
}

static void report(CUresult code, const char* who, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(CUresult code, const char* who, const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::string line = std::string(who) + ": " + buf;
    g_detail[code] = line;
    fprintf(stderr, "bertsharp-cuda-emu: %s\n", line.c_str());
    fflush(stderr);
}

static CUresult fail_sticky(CUresult code, const char* who, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static CUresult fail_sticky(CUresult code, const char* who, const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    report(code, who, "%s", buf);
    if (g_sticky == CUDA_SUCCESS) g_sticky = code;
    return code;
}

// ------------------------------------------------------------------------------------------------ memory

struct Region {
    uint64_t start = 0;  // first user byte
    size_t size = 0;     // user bytes
    char* map = nullptr; // the whole mapping (guard pages included)
    size_t mapSize = 0;
    bool pinned = false; // cuMemAllocHost memory (host, page-locked), not device memory
    bool freed = false;
    bool owned = true;   // false for cuMemHostRegister'ed memory
    uint64_t serial = 0;
};
static std::map<uint64_t, Region> g_live;    // device allocations and pinned host memory by start
static std::map<uint64_t, Region> g_maps;    // every mapping (live and quarantined) by map address
static std::deque<uint64_t> g_quarantine;    // freed mappings kept PROT_NONE (use-after-free faults), oldest first
static size_t g_used = 0;
static uint64_t g_serial = 0;

static size_t total_memory() { return (size_t)env_long("BERTSHARP_CUDA_EMU_MEMORY_MB", 8192) << 20; }

static Region* find_live(uint64_t p) {
    auto it = g_live.upper_bound(p);
    if (it == g_live.begin()) return nullptr;
    --it;
    Region& r = it->second;
    return p >= r.start && p <= r.start + r.size ? &r : nullptr;
}

static Region* find_map(uint64_t p) {
    auto it = g_maps.upper_bound(p);
    if (it == g_maps.begin()) return nullptr;
    --it;
    Region& r = it->second;
    return p >= (uint64_t)r.map && p < (uint64_t)r.map + r.mapSize ? &r : nullptr;
}

// [p, p + bytes) inside one live allocation (device only, or device or pinned host).
static bool in_device(uint64_t p, size_t bytes, bool allowPinned, std::string* why) {
    Region* r = find_live(p);
    char b[256];
    if (!r || (r->pinned && !allowPinned)) {
        Region* m = find_map(p);
        if (m && m->freed) snprintf(b, sizeof b, "0x%llx is freed device memory (use after cuMemFree)", (unsigned long long)p);
        else if (r && r->pinned) snprintf(b, sizeof b, "0x%llx is page-locked host memory, not device memory", (unsigned long long)p);
        else snprintf(b, sizeof b, "0x%llx is not device memory (a host pointer, or not allocated by cuMemAlloc)", (unsigned long long)p);
        if (why) *why = b;
        return false;
    }
    if (p + bytes > r->start + r->size) {
        snprintf(b, sizeof b, "%zu bytes at offset %llu of a %zu-byte allocation run %llu bytes past its end", bytes,
                 (unsigned long long)(p - r->start), r->size, (unsigned long long)(p + bytes - r->start - r->size));
        if (why) *why = b;
        return false;
    }
    return true;
}

static bool is_device_address(uint64_t p) {
    Region* m = find_map(p);
    return m && !m->pinned;
}

static CUresult allocate(size_t bytes, bool pinned, unsigned long long* out) {
    if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    if (!pinned && g_used + bytes > total_memory()) return CUDA_ERROR_OUT_OF_MEMORY;
    size_t user = (bytes + 3) & ~(size_t)3;
    size_t pages = (user + PAGE - 1) & ~(PAGE - 1);
    size_t mapSize = pages + 2 * PAGE;
    void* m = mmap(nullptr, mapSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    if (mprotect((char*)m + PAGE, pages, PROT_READ | PROT_WRITE) != 0) {
        munmap(m, mapSize);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    Region r;
    r.map = (char*)m;
    r.mapSize = mapSize;
    r.size = bytes;
    // The user bytes end where the guard page begins, so reading or writing one element past the end faults.
    r.start = (uint64_t)((char*)m + PAGE + pages - user);
    r.pinned = pinned;
    r.serial = ++g_serial;
    // Fresh device memory is not zero on a GPU: fill it with a pattern (NaN as float) unless asked otherwise.
    if (!pinned) memset((void*)r.start, env_long("BERTSHARP_CUDA_EMU_ZERO_MEMORY", 0) ? 0 : 0xFF, bytes);
    g_live[r.start] = r;
    g_maps[(uint64_t)r.map] = r;
    if (!pinned) g_used += bytes;
    *out = r.start;
    return CUDA_SUCCESS;
}

static CUresult release(uint64_t p, bool pinned) {
    auto it = g_live.find(p);
    if (it == g_live.end() || it->second.pinned != pinned || !it->second.owned) return CUDA_ERROR_INVALID_VALUE;
    Region r = it->second;
    g_live.erase(it);
    if (!pinned) g_used -= r.size;
    // Quarantine: keep the address range reserved and inaccessible, so a later access faults as use-after-free.
    madvise(r.map, r.mapSize, MADV_DONTNEED);
    mprotect(r.map, r.mapSize, PROT_NONE);
    Region& q = g_maps[(uint64_t)r.map];
    q.freed = true;
    g_quarantine.push_back((uint64_t)r.map);
    while (g_quarantine.size() > 4096) {
        uint64_t old = g_quarantine.front();
        g_quarantine.pop_front();
        auto m = g_maps.find(old);
        if (m != g_maps.end()) {
            munmap(m->second.map, m->second.mapSize);
            g_maps.erase(m);
        }
    }
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------------------------------------ the queue

struct Op {
    std::function<void()> run;
};
static std::deque<Op> g_queue;
static bool g_eager = false;

static void flush() {
    while (!g_queue.empty()) {
        Op op = std::move(g_queue.front());
        g_queue.pop_front();
        if (g_sticky == CUDA_SUCCESS) op.run();
    }
}

static CUresult enqueue(std::function<void()> fn) {
    if (g_sticky) return g_sticky;
    g_queue.push_back(Op{std::move(fn)});
    if (g_eager) flush();
    return g_sticky;
}

// ------------------------------------------------------------------------------------------------ modules

struct Module;
struct Function {
    Module* module;
    const bs_emu_kernel_t* kernel;
    int maxDynamicShared = 48 * 1024;
    int magic = 0x5eedf00d;
};
struct Module {
    void* handle = nullptr;
    bs_emu_module_t* ctx = nullptr;
    char* sharedBegin = nullptr;
    size_t sharedSize = 0;
    std::map<std::string, Function*> functions;
    int magic = 0x600dc0de;
};
static std::vector<Module*> g_modules;

static bool valid_function(Function* f) {
    if (!f) return false;
    for (Module* m : g_modules)
        for (auto& kv : m->functions)
            if (kv.second == f) return true;
    return false;
}

// ------------------------------------------------------------------------------------------------ fibers

// bsemu_switch(&save, to): saves the callee-saved registers on the current stack, stores the stack pointer in *save
// and resumes the stack `to` (System V x86-64). MXCSR and the x87 control word are not switched: every fiber runs
// with the launching thread's, and kernel code does not change them.
extern "C" void bsemu_switch(void** save, void* to);
__asm__(
    ".text\n"
    ".globl bsemu_switch\n"
    ".hidden bsemu_switch\n"
    ".type bsemu_switch,@function\n"
    "bsemu_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size bsemu_switch, .-bsemu_switch\n");

enum FiberState { NEW, RUNNABLE, WAIT_BAR, WAIT_WARP, DONE };
struct Fiber {
    void* sp = nullptr;
    int stack = -1;
    FiberState state = NEW;
    bs_emu_uint3 tid;
    int linear = 0;
    const char* site = nullptr; // where it waits
};
struct Warp {
    int arrived = 0;
    unsigned mask = 0;
    int op = 0, width = 32;
    const char* site = nullptr;
    int buf = 0;
    unsigned long long val[2][32];
    int arg[2][32];
};

static const size_t STACK_SIZE = 64 * 1024;
static const int MAX_THREADS = 1024;
static char* g_stacks = nullptr;
static std::vector<int> g_freeStacks;

static void* g_schedSp = nullptr;
static Fiber* g_cur = nullptr;
static std::vector<Fiber> g_fibers;
static std::vector<Warp> g_warps;
static int g_barArrived = 0;
static const Function* g_fn = nullptr;
static void** g_args = nullptr;
static bs_emu_uint3 g_block, g_grid, g_dim;
static const char* g_faultMsg = nullptr;
static char g_faultBuf[1024];
static CUresult g_faultCode = 0;
// Read by the signal handlers of this same thread: a volatile flag is enough (an atomic store would fence every switch).
static volatile sig_atomic_t g_inFiber = 0;
static std::atomic<pid_t> g_execTid{0};
static char* g_dynShared = nullptr;
static size_t g_dynSharedMap = 0;

static void ensure_stacks() {
    if (g_stacks) return;
    size_t each = STACK_SIZE + PAGE;
    g_stacks = (char*)mmap(nullptr, each * MAX_THREADS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g_stacks == MAP_FAILED) {
        fprintf(stderr, "bertsharp-cuda-emu: cannot reserve fiber stacks\n");
        abort();
    }
    for (int i = 0; i < MAX_THREADS; i++) mprotect(g_stacks + i * each, PAGE, PROT_NONE); // guard below each stack
    for (int i = MAX_THREADS - 1; i >= 0; i--) g_freeStacks.push_back(i);
}
static char* stack_top(int i) { return g_stacks + (size_t)i * (STACK_SIZE + PAGE) + PAGE + STACK_SIZE; }

static void yield_to_scheduler() {
    Fiber* f = g_cur;
    g_inFiber = 0;
    bsemu_switch(&f->sp, g_schedSp);
    // resumed by the scheduler (which set g_cur and threadIdx)
}

// A fault found in a fiber: stop the launch (the scheduler abandons every fiber of the block).
[[noreturn]] static void fiber_fault(CUresult code, const char* msg) {
    if (msg != g_faultBuf) snprintf(g_faultBuf, sizeof g_faultBuf, "%s", msg);
    g_faultMsg = g_faultBuf;
    g_faultCode = code;
    Fiber* f = g_cur;
    g_inFiber = 0;
    bsemu_switch(&f->sp, g_schedSp);
    __builtin_trap(); // never resumed
}

extern "C" void bsemu_fiber_fault_exit() { fiber_fault(g_faultCode, g_faultBuf); }

static void fiber_main() {
    Fiber* f = g_cur;
    g_fn->kernel->invoke(g_args);
    f = g_cur;
    f->state = DONE;
    g_inFiber = 0;
    bsemu_switch(&f->sp, g_schedSp);
    __builtin_trap();
}

static void start_fiber(Fiber& f) {
    int s = g_freeStacks.back();
    g_freeStacks.pop_back();
    f.stack = s;
    uint64_t* top = (uint64_t*)stack_top(s); // 16-byte aligned
    top[-1] = 0;                         // the entry function's "return address"
    top[-2] = (uint64_t)&fiber_main;     // where bsemu_switch's ret goes
    for (int i = 3; i <= 8; i++) top[-i] = 0; // rbp rbx r12 r13 r14 r15
    f.sp = &top[-8];
    f.state = RUNNABLE;
}

static std::string dim_text(bs_emu_uint3 v) {
    char b[64];
    snprintf(b, sizeof b, "(%u,%u,%u)", v.x, v.y, v.z);
    return b;
}

// ---- barriers, called from kernel code ----

static void cb_syncthreads(const void* site) {
    Fiber* f = g_cur;
    f->site = (const char*)site;
    f->state = WAIT_BAR;
    g_barArrived++;
    if (g_barArrived == (int)g_fibers.size()) {
        for (auto& o : g_fibers)
            if (o.site != f->site && strcmp(o.site, f->site) != 0) {
                snprintf(g_faultBuf, sizeof g_faultBuf,
                         "block %s: threads wait at different __syncthreads (thread %s at %s, thread %s at %s)",
                         dim_text(g_block).c_str(), dim_text(o.tid).c_str(), o.site, dim_text(f->tid).c_str(), f->site);
                fiber_fault(CUDA_ERROR_LAUNCH_FAILED, g_faultBuf);
            }
        g_barArrived = 0;
        for (auto& o : g_fibers) o.state = RUNNABLE;
        return;
    }
    yield_to_scheduler();
}

static const char* warp_op_name(int op) {
    switch (op) {
    case BS_EMU_SHFL_IDX: return "__shfl_sync";
    case BS_EMU_SHFL_UP: return "__shfl_up_sync";
    case BS_EMU_SHFL_DOWN: return "__shfl_down_sync";
    case BS_EMU_SHFL_XOR: return "__shfl_xor_sync";
    case BS_EMU_SYNCWARP: return "__syncwarp";
    case BS_EMU_VOTE_ALL: return "__all_sync";
    case BS_EMU_VOTE_ANY: return "__any_sync";
    default: return "__ballot_sync";
    }
}

static unsigned long long cb_warp(int op, unsigned mask, unsigned long long value, int arg, int width, const void* site) {
    Fiber* f = g_cur;
    int w = f->linear / 32, lane = f->linear % 32;
    int lanes = (int)g_fibers.size() - w * 32;
    if (lanes > 32) lanes = 32;
    Warp& W = g_warps[w];
    const char* name = warp_op_name(op);
    if (!(mask & (1u << lane))) {
        snprintf(g_faultBuf, sizeof g_faultBuf, "%s at %s: lane %d of warp %d (thread %s, block %s) calls it with mask 0x%08x, which leaves it out",
                 name, (const char*)site, lane, w, dim_text(f->tid).c_str(), dim_text(g_block).c_str(), mask);
        fiber_fault(CUDA_ERROR_LAUNCH_FAILED, g_faultBuf);
    }
    if (lanes < 32 && (mask >> lanes) != 0) {
        snprintf(g_faultBuf, sizeof g_faultBuf, "%s at %s: mask 0x%08x names lanes that do not exist (warp %d of block %s has %d threads)",
                 name, (const char*)site, mask, w, dim_text(g_block).c_str(), lanes);
        fiber_fault(CUDA_ERROR_LAUNCH_FAILED, g_faultBuf);
    }
    if (width < 1 || width > 32 || (width & (width - 1))) {
        snprintf(g_faultBuf, sizeof g_faultBuf, "%s at %s: width %d is not a power of two in [1, 32]", name, (const char*)site, width);
        fiber_fault(CUDA_ERROR_LAUNCH_FAILED, g_faultBuf);
    }
    if (W.arrived == 0) {
        W.mask = mask;
        W.op = op;
        W.site = (const char*)site;
        W.width = width;
    } else if (W.mask != mask || W.op != op || (W.site != (const char*)site && strcmp(W.site, (const char*)site) != 0)) {
        snprintf(g_faultBuf, sizeof g_faultBuf, "warp %d of block %s diverged: lane %d is at %s (%s, mask 0x%08x) while other lanes wait at %s (%s, mask 0x%08x)",
                 w, dim_text(g_block).c_str(), lane, name, (const char*)site, mask, warp_op_name(W.op), W.site, W.mask);
        fiber_fault(CUDA_ERROR_LAUNCH_FAILED, g_faultBuf);
    }
    int mine = W.buf;
    W.val[mine][lane] = value;
    W.arg[mine][lane] = arg;
    W.arrived++;
    f->site = (const char*)site;
    if (W.arrived == (mask == 0xffffffffu ? 32 : __builtin_popcount(mask))) {
        W.arrived = 0;
        W.buf ^= 1;
        for (int l = 0; l < lanes; l++)
            if ((mask >> l) & 1) g_fibers[w * 32 + l].state = RUNNABLE;
    } else {
        f->state = WAIT_WARP;
        yield_to_scheduler();
    }
    unsigned long long* v = W.val[mine];
    int src = lane;
    int base = lane & ~(width - 1), rel = lane & (width - 1);
    switch (op) {
    case BS_EMU_SHFL_IDX: src = base + (arg & (width - 1)); break;
    case BS_EMU_SHFL_UP: src = rel >= arg ? lane - arg : lane; break;
    case BS_EMU_SHFL_DOWN: src = rel + arg < width ? lane + arg : lane; break;
    case BS_EMU_SHFL_XOR: src = lane ^ arg; if (src < base || src >= base + width) src = lane; break;
    case BS_EMU_SYNCWARP: return 0;
    case BS_EMU_VOTE_ALL: case BS_EMU_VOTE_ANY: case BS_EMU_VOTE_BALLOT: {
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++)
            if (((mask >> l) & 1) && v[l]) ballot |= 1u << l;
        if (op == BS_EMU_VOTE_BALLOT) return ballot;
        if (op == BS_EMU_VOTE_ANY) return ballot != 0;
        return ballot == mask;
    }
    }
    if (src < 0 || src >= 32 || !((mask >> src) & 1)) {
        snprintf(g_faultBuf, sizeof g_faultBuf, "%s at %s: lane %d reads lane %d, which is not in mask 0x%08x (undefined on a GPU)",
                 name, (const char*)site, lane, src, mask);
        fiber_fault(CUDA_ERROR_LAUNCH_FAILED, g_faultBuf);
    }
    return v[src];
}

static void cb_trap(const char* what) {
    snprintf(g_faultBuf, sizeof g_faultBuf, "thread %s of block %s: %s", dim_text(g_cur->tid).c_str(), dim_text(g_block).c_str(), what);
    fiber_fault(CUDA_ERROR_ASSERT, g_faultBuf);
}

// ---- signals: guard-page faults and the watchdog inside kernels ----

static struct sigaction g_oldSegv, g_oldBus, g_oldAlrm;
static std::atomic<unsigned long long> g_launchSeq{0};
static std::atomic<long long> g_launchStart{0};
static std::atomic<bool> g_watchdogFired{false};

static pid_t my_tid() { return (pid_t)syscall(SYS_gettid); }

static void describe_address(uint64_t a, bool write, char* out, size_t n) {
    const char* rw = write ? "write to" : "read of";
    // Fiber stacks: overflow into a stack's guard page.
    if (g_stacks && a >= (uint64_t)g_stacks && a < (uint64_t)g_stacks + (STACK_SIZE + PAGE) * MAX_THREADS) {
        snprintf(out, n, "stack overflow (the emulator gives each CUDA thread %zu KiB)", STACK_SIZE / 1024);
        return;
    }
    if (g_dynShared && a >= (uint64_t)g_dynShared && a < (uint64_t)g_dynShared + g_dynSharedMap) {
        snprintf(out, n, "%s address 0x%llx beyond the block's dynamic shared memory (%s)", rw, (unsigned long long)a, "extern __shared__");
        return;
    }
    auto it = g_maps.upper_bound(a);
    if (it != g_maps.begin()) {
        --it;
        Region& r = it->second;
        if (a >= (uint64_t)r.map && a < (uint64_t)r.map + r.mapSize) {
            if (r.freed) snprintf(out, n, "%s freed device memory at 0x%llx (use after cuMemFree of a %zu-byte allocation)", rw, (unsigned long long)a, r.size);
            else if (a >= r.start + r.size) snprintf(out, n, "out-of-bounds %s 0x%llx, %llu bytes past the end of a %zu-byte allocation", rw, (unsigned long long)a, (unsigned long long)(a - r.start - r.size), r.size);
            else snprintf(out, n, "out-of-bounds %s 0x%llx, %llu bytes before the start of a %zu-byte allocation", rw, (unsigned long long)a, (unsigned long long)(r.start - a), r.size);
            return;
        }
    }
    snprintf(out, n, "%s 0x%llx, which is not device memory (a host pointer or a wild address)", rw, (unsigned long long)a);
}

static void redirect_to_fault_exit(ucontext_t* uc) {
    char* top = stack_top(g_cur->stack);
    uint64_t sp = ((uint64_t)top - 256) & ~(uint64_t)15;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)(sp - 8);
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)&bsemu_fiber_fault_exit;
}

static void chain(const struct sigaction& old, int sig, siginfo_t* si, void* ctx) {
    if (old.sa_flags & SA_SIGINFO) {
        if (old.sa_sigaction) old.sa_sigaction(sig, si, ctx);
        return;
    }
    if (old.sa_handler == SIG_IGN) return;
    if (old.sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL); // return: the faulting instruction runs again and the default action applies
        return;
    }
    old.sa_handler(sig);
}

static void on_fault(int sig, siginfo_t* si, void* ctx) {
    if (g_inFiber && g_execTid == my_tid() && g_cur) {
        ucontext_t* uc = (ucontext_t*)ctx;
        bool write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
        char what[512];
        describe_address((uint64_t)si->si_addr, write, what, sizeof what);
        snprintf(g_faultBuf, sizeof g_faultBuf, "thread %s of block %s: %s", dim_text(g_cur->tid).c_str(), dim_text(g_block).c_str(), what);
        g_faultCode = CUDA_ERROR_ILLEGAL_ADDRESS;
        redirect_to_fault_exit(uc);
        return;
    }
    chain(sig == SIGSEGV ? g_oldSegv : g_oldBus, sig, si, ctx);
}

static void on_alarm(int sig, siginfo_t* si, void* ctx) {
    if (g_inFiber && g_execTid == my_tid() && g_cur && g_watchdogFired) {
        snprintf(g_faultBuf, sizeof g_faultBuf, "block %s did not finish within %ld s (an endless loop or a spin-wait no other thread can end)",
                 dim_text(g_block).c_str(), env_long("BERTSHARP_CUDA_EMU_TIMEOUT_S", 120));
        g_faultCode = CUDA_ERROR_LAUNCH_TIMEOUT;
        redirect_to_fault_exit((ucontext_t*)ctx);
        return;
    }
    chain(g_oldAlrm, sig, si, ctx);
}

static void* watchdog(void*) {
    unsigned long long seen = 0;
    long limit = env_long("BERTSHARP_CUDA_EMU_TIMEOUT_S", 120);
    for (;;) {
        sleep(1);
        unsigned long long seq = g_launchSeq;
        if (seq == 0 || seq == seen || !(seq & 1)) continue; // odd: a launch is running
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec - g_launchStart > limit) {
            seen = seq;
            g_watchdogFired = true;
            syscall(SYS_tgkill, getpid(), (pid_t)g_execTid, SIGALRM);
        }
    }
    return nullptr;
}

static void install_handlers() {
    static bool done = false;
    if (done) return;
    done = true;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_oldSegv);
    sigaction(SIGBUS, &sa, &g_oldBus);
    sa.sa_sigaction = on_alarm;
    sigaction(SIGALRM, &sa, &g_oldAlrm);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, watchdog, nullptr);
}

// An alternate signal stack for the launching thread, so a fault report never runs on a small fiber stack.
static void ensure_altstack() {
    static __thread bool has = false;
    if (has) return;
    stack_t cur;
    if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= 16384) {
        has = true;
        return;
    }
    stack_t ss;
    ss.ss_size = 64 * 1024;
    ss.ss_sp = malloc(ss.ss_size);
    ss.ss_flags = 0;
    if (ss.ss_sp && sigaltstack(&ss, nullptr) == 0) has = true;
}

// ---- one launch ----

struct Launch {
    Function* fn;
    bs_emu_uint3 grid, block;
    unsigned shared;
    std::vector<unsigned char> params;
    std::vector<size_t> offsets;
};

static void poison_shared(Module* m, size_t dyn) {
    if (m->sharedSize) memset(m->sharedBegin, 0xFF, m->sharedSize);
    if (dyn) memset(m->ctx->dynamicShared, 0xFF, dyn);
}

static void run_launch(Launch& L) {
    Module* m = L.fn->module;
    const char* kname = L.fn->kernel->name;
    ensure_stacks();
    ensure_altstack();
    std::vector<void*> args(L.offsets.size());
    for (size_t i = 0; i < args.size(); i++) args[i] = L.params.data() + L.offsets[i];
    g_fn = L.fn;
    g_args = args.data();
    // Dynamic shared memory: its end against a guard page, so an overrun faults.
    size_t dynUser = (L.shared + 15) & ~(size_t)15, dynPages = (dynUser + PAGE - 1) & ~(PAGE - 1);
    if (L.shared) {
        g_dynSharedMap = dynPages + PAGE;
        g_dynShared = (char*)mmap(nullptr, g_dynSharedMap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(g_dynShared + dynPages, PAGE, PROT_NONE);
        m->ctx->dynamicShared = g_dynShared + dynPages - dynUser;
    } else {
        m->ctx->dynamicShared = nullptr;
    }
    int threads = (int)(L.block.x * L.block.y * L.block.z);
    g_fibers.assign(threads, Fiber());
    g_warps.assign((threads + 31) / 32, Warp());
    m->ctx->blockDim = L.block;
    m->ctx->gridDim = L.grid;
    g_dim = L.block;
    g_grid = L.grid;
    g_execTid = my_tid();
    g_faultMsg = nullptr;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    g_launchStart = ts.tv_sec;
    g_watchdogFired = false;
    g_launchSeq += 1; // odd: running
    for (unsigned bz = 0; bz < L.grid.z && !g_faultMsg; bz++)
        for (unsigned by = 0; by < L.grid.y && !g_faultMsg; by++)
            for (unsigned bx = 0; bx < L.grid.x && !g_faultMsg; bx++) {
                g_block = {bx, by, bz};
                m->ctx->blockIdx = g_block;
                poison_shared(m, L.shared);
                for (int i = 0; i < threads; i++) {
                    Fiber& f = g_fibers[i];
                    f = Fiber();
                    f.linear = i;
                    f.tid = {(unsigned)(i % L.block.x), (unsigned)(i / L.block.x % L.block.y), (unsigned)(i / (L.block.x * L.block.y))};
                }
                for (auto& w : g_warps) w.arrived = 0;
                g_barArrived = 0;
                int live = threads;
                while (live > 0 && !g_faultMsg) {
                    bool progress = false;
                    for (int i = 0; i < threads && !g_faultMsg; i++) {
                        Fiber& f = g_fibers[i];
                        if (f.state == NEW) start_fiber(f);
                        if (f.state != RUNNABLE) continue;
                        progress = true;
                        g_cur = &f;
                        m->ctx->threadIdx = f.tid;
                        g_inFiber = 1;
                        bsemu_switch(&g_schedSp, f.sp);
                        g_inFiber = 0;
                        if (g_faultMsg) break;
                        if (f.state == DONE) {
                            g_freeStacks.push_back(f.stack);
                            f.stack = -1;
                            live--;
                        }
                    }
                    if (progress || g_faultMsg || live == 0) continue;
                    // Nobody can run: a barrier some thread will never reach.
                    const Fiber* exited = nullptr;
                    const Fiber* atBar = nullptr;
                    const Fiber* atWarp = nullptr;
                    int waitingBar = 0;
                    for (auto& f : g_fibers) {
                        if (f.state == DONE && !exited) exited = &f;
                        if (f.state == WAIT_BAR) { waitingBar++; if (!atBar) atBar = &f; }
                        if (f.state == WAIT_WARP && !atWarp) atWarp = &f;
                    }
                    if (atBar && exited && !atWarp)
                        snprintf(g_faultBuf, sizeof g_faultBuf,
                                 "block %s: __syncthreads at %s is not reached by every thread: thread %s returned while %d threads wait there",
                                 dim_text(g_block).c_str(), atBar->site, dim_text(exited->tid).c_str(), waitingBar);
                    else if (atWarp) {
                        int w = atWarp->linear / 32;
                        const Warp& W = g_warps[w];
                        int missing = -1;
                        for (int l = 0; l < 32; l++)
                            if (((W.mask >> l) & 1) && g_fibers[w * 32 + l].state != WAIT_WARP) { missing = l; break; }
                        const Fiber* mf = missing >= 0 ? &g_fibers[w * 32 + missing] : nullptr;
                        if (mf && mf->state == DONE)
                            snprintf(g_faultBuf, sizeof g_faultBuf,
                                     "block %s: %s at %s is not reached by the whole warp: lane %d of warp %d (thread %s) returned while the others wait",
                                     dim_text(g_block).c_str(), warp_op_name(W.op), W.site, missing, w, dim_text(mf->tid).c_str());
                        else
                            snprintf(g_faultBuf, sizeof g_faultBuf,
                                     "deadlock in block %s: lanes of warp %d wait at %s (%s) while thread %s waits at %s",
                                     dim_text(g_block).c_str(), w, warp_op_name(W.op), W.site, mf ? dim_text(mf->tid).c_str() : "?",
                                     mf && mf->site ? mf->site : "?");
                    } else
                        snprintf(g_faultBuf, sizeof g_faultBuf, "deadlock in block %s", dim_text(g_block).c_str());
                    g_faultMsg = g_faultBuf;
                    g_faultCode = CUDA_ERROR_LAUNCH_FAILED;
                }
                // Return the stacks of threads abandoned by a fault.
                for (auto& f : g_fibers)
                    if (f.stack >= 0) { g_freeStacks.push_back(f.stack); f.stack = -1; }
            }
    g_launchSeq += 1; // even: idle
    g_cur = nullptr;
    if (g_dynShared) {
        munmap(g_dynShared, g_dynSharedMap);
        g_dynShared = nullptr;
        m->ctx->dynamicShared = nullptr;
    }
    if (g_faultMsg) fail_sticky(g_faultCode, kname, "%s (grid %s, block %s)", g_faultMsg, dim_text(L.grid).c_str(), dim_text(L.block).c_str());
}

// ------------------------------------------------------------------------------------------------ the API

#define CHECK_INIT() do { if (!g_init) return CUDA_ERROR_NOT_INITIALIZED; } while (0)
#define STICKY() do { if (g_sticky) return g_sticky; } while (0)

static int g_ccMajor = 9, g_ccMinor = 0;
static int g_ctxToken = 0;
static void* const PRIMARY = &g_ctxToken;
static int g_ctxRefs = 0;                  // cuDevicePrimaryCtxRetain minus Release: at 0 the context is gone
static thread_local void* t_current = nullptr; // cuCtxSetCurrent, per thread as in the driver

// Calls that act in a context need the primary context retained and current on the calling thread.
static CUresult no_context(const char* who) {
    if (t_current == PRIMARY && g_ctxRefs > 0) return CUDA_SUCCESS;
    report(CUDA_ERROR_INVALID_CONTEXT, who, "%s", g_ctxRefs == 0
        ? "the primary context is not retained (cuDevicePrimaryCtxRetain), or was released: its memory and modules are gone"
        : "no current context on this thread (cuCtxSetCurrent)");
    return CUDA_ERROR_INVALID_CONTEXT;
}
#define NEED_CTX() do { if (CUresult c_ = no_context(__func__)) return c_; } while (0)

API CUresult cuInit(unsigned flags) {
    LOCK;
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    if (!g_init) {
        const char* cc = getenv("BERTSHARP_CUDA_EMU_CC");
        if (cc && *cc) sscanf(cc, "%d.%d", &g_ccMajor, &g_ccMinor);
        g_eager = env_long("BERTSHARP_CUDA_EMU_EAGER", 0) != 0;
        install_handlers();
        g_init = true;
    }
    return CUDA_SUCCESS;
}

API CUresult cuDriverGetVersion(int* v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = (int)env_long("BERTSHARP_CUDA_EMU_DRIVER_VERSION", 13000);
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetCount(int* n) {
    CHECK_INIT();
    if (!n) return CUDA_ERROR_INVALID_VALUE;
    *n = 1;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    CHECK_INIT();
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
    CHECK_INIT();
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(name, (size_t)len, "BertSharp CUDA emulator (CPU)");
    return CUDA_SUCCESS;
}

API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
    CHECK_INIT();
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = total_memory();
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
    CHECK_INIT();
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    switch (attr) {
    case 1: *v = 1024; break;           // MAX_THREADS_PER_BLOCK
    case 2: case 3: *v = 1024; break;   // MAX_BLOCK_DIM_X/Y
    case 4: *v = 64; break;             // MAX_BLOCK_DIM_Z
    case 5: *v = 2147483647; break;     // MAX_GRID_DIM_X
    case 6: case 7: *v = 65535; break;  // MAX_GRID_DIM_Y/Z
    case 8: *v = 49152; break;          // MAX_SHARED_MEMORY_PER_BLOCK
    case 9: *v = 65536; break;          // TOTAL_CONSTANT_MEMORY
    case 10: *v = 32; break;            // WARP_SIZE
    case 12: *v = 65536; break;         // MAX_REGISTERS_PER_BLOCK
    case 13: *v = 1000000; break;       // CLOCK_RATE (kHz)
    case 16: *v = (int)env_long("BERTSHARP_CUDA_EMU_SMS", 2); break; // MULTIPROCESSOR_COUNT
    case 39: *v = 2048; break;          // MAX_THREADS_PER_MULTIPROCESSOR
    case 41: *v = 1; break;             // UNIFIED_ADDRESSING
    case 75: *v = g_ccMajor; break;     // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = g_ccMinor; break;     // COMPUTE_CAPABILITY_MINOR
    case 81: *v = 233472; break;        // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    case 97: *v = 232448; break;        // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    default:
        if (attr < 1 || attr > 200) return CUDA_ERROR_INVALID_VALUE;
        *v = 0;
    }
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetPCIBusId(char* id, int len, CUdevice d) {
    CHECK_INIT();
    if (!id || len <= 0 || d != 0) return CUDA_ERROR_INVALID_VALUE;
    snprintf(id, (size_t)len, "0000:00:00.0");
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRetain(void** ctx, CUdevice d) {
    LOCK;
    CHECK_INIT();
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    g_ctxRefs++;
    *ctx = PRIMARY;
    return CUDA_SUCCESS;
}

static void destroy_context() {
    flush();
    g_queue.clear();
    std::vector<std::pair<uint64_t, bool>> doomed;
    for (auto& kv : g_live) doomed.emplace_back(kv.first, kv.second.pinned);
    for (auto& [p, pinned] : doomed) {
        auto it = g_live.find(p);
        if (it != g_live.end() && !it->second.owned) g_live.erase(it);
        else release(p, pinned);
    }
    for (Module* m : g_modules) {
        for (auto& kv : m->functions) delete kv.second;
        m->functions.clear();
    }
    g_modules.clear();
    g_sticky = CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
    LOCK;
    CHECK_INIT();
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (g_ctxRefs == 0) return CUDA_ERROR_INVALID_CONTEXT;
    // The last release destroys the context: every allocation and module goes (freed memory stays quarantined, so
    // a later access is reported as use after free).
    if (--g_ctxRefs == 0) destroy_context();
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxReset_v2(CUdevice d) {
    LOCK;
    CHECK_INIT();
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    g_queue.clear();
    g_sticky = CUDA_SUCCESS;
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxGetState(CUdevice d, unsigned* flags, int* active) {
    CHECK_INIT();
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (flags) *flags = 0;
    if (active) *active = 1;
    return CUDA_SUCCESS;
}

API CUresult cuCtxSetCurrent(void* ctx) {
    CHECK_INIT();
    if (ctx != nullptr && ctx != PRIMARY) return CUDA_ERROR_INVALID_CONTEXT;
    t_current = ctx;
    return CUDA_SUCCESS;
}

API CUresult cuCtxGetCurrent(void** ctx) {
    CHECK_INIT();
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    *ctx = g_ctxRefs > 0 ? t_current : nullptr;
    return CUDA_SUCCESS;
}

API CUresult cuCtxGetDevice(CUdevice* d) {
    CHECK_INIT();
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    *d = 0;
    return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize() {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush();
    return g_sticky;
}

API CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* totalBytes) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (freeBytes) *freeBytes = total_memory() - g_used;
    if (totalBytes) *totalBytes = total_memory();
    return CUDA_SUCCESS;
}

API CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    return allocate(bytes, false, p);
}

API CUresult cuMemFree_v2(CUdeviceptr p) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush(); // cuMemFree waits for the work queued before it
    if (p == 0) return g_sticky;
    CUresult r = release(p, false);
    if (r) report(r, "cuMemFree", "0x%llx is not the start of a live cuMemAlloc allocation", p);
    return g_sticky ? g_sticky : r;
}

API CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    unsigned long long a;
    CUresult r = allocate(bytes, true, &a);
    if (r == 0) *p = (void*)a;
    return r;
}

API CUresult cuMemHostAlloc(void** p, size_t bytes, unsigned flags) {
    (void)flags;
    return cuMemAllocHost_v2(p, bytes);
}

API CUresult cuMemFreeHost(void* p) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush();
    CUresult r = release((uint64_t)p, true);
    if (r) report(r, "cuMemFreeHost", "%p is not the start of a cuMemAllocHost allocation", p);
    return g_sticky ? g_sticky : r;
}

API CUresult cuMemHostRegister_v2(void* p, size_t bytes, unsigned flags) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    (void)flags;
    if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    Region r;
    r.start = (uint64_t)p;
    r.size = bytes;
    r.pinned = true;
    r.owned = false;
    r.serial = ++g_serial;
    g_live[r.start] = r;
    return CUDA_SUCCESS;
}

API CUresult cuMemHostUnregister(void* p) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush();
    auto it = g_live.find((uint64_t)p);
    if (it == g_live.end() || it->second.owned) return CUDA_ERROR_INVALID_VALUE;
    g_live.erase(it);
    return CUDA_SUCCESS;
}

static bool is_pinned(const void* p, size_t n) {
    Region* r = find_live((uint64_t)p);
    return r && r->pinned && (uint64_t)p + n <= r->start + r->size;
}

static CUresult check_device(const char* who, uint64_t p, size_t n, const char* role) {
    std::string why;
    if (in_device(p, n, false, &why)) return CUDA_SUCCESS;
    report(CUDA_ERROR_INVALID_VALUE, who, "%s: %s", role, why.c_str());
    return CUDA_ERROR_INVALID_VALUE;
}

static CUresult check_host(const char* who, const void* p, size_t n, const char* role) {
    if (!p) {
        report(CUDA_ERROR_INVALID_VALUE, who, "%s: null host pointer", role);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (is_device_address((uint64_t)p) || is_device_address((uint64_t)p + n - 1)) {
        report(CUDA_ERROR_INVALID_VALUE, who, "%s: %p is device memory, not host memory", role, p);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush();
    STICKY();
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = check_device("cuMemcpyHtoD", dst, n, "destination")) return r;
    if (CUresult r = check_host("cuMemcpyHtoD", src, n, "source")) return r;
    memcpy((void*)dst, src, n);
    return CUDA_SUCCESS;
}

API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void* stream) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = check_device("cuMemcpyHtoDAsync", dst, n, "destination")) return r;
    if (CUresult r = check_host("cuMemcpyHtoDAsync", src, n, "source")) return r;
    (void)stream;
    if (!is_pinned(src, n)) {
        // From pageable memory the driver copies before it returns (after the work queued before it).
        flush();
        STICKY();
        memcpy((void*)dst, src, n);
        return CUDA_SUCCESS;
    }
    // From page-locked memory the copy runs later, in stream order: the host must not reuse the buffer before
    // the stream has passed the copy (an event or a synchronisation), or the copy reads what it wrote since.
    return enqueue([=] { memcpy((void*)dst, src, n); });
}

API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush();
    STICKY();
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = check_device("cuMemcpyDtoH", src, n, "source")) return r;
    if (CUresult r = check_host("cuMemcpyDtoH", dst, n, "destination")) return r;
    memcpy(dst, (void*)src, n);
    return CUDA_SUCCESS;
}

API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void* stream) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    (void)stream;
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = check_device("cuMemcpyDtoHAsync", src, n, "source")) return r;
    if (CUresult r = check_host("cuMemcpyDtoHAsync", dst, n, "destination")) return r;
    if (!is_pinned(dst, n)) {
        flush();
        STICKY();
        memcpy(dst, (void*)src, n);
        return CUDA_SUCCESS;
    }
    return enqueue([=] { memcpy(dst, (void*)src, n); });
}

static CUresult dtod(const char* who, CUdeviceptr dst, CUdeviceptr src, size_t n) {
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = check_device(who, src, n, "source")) return r;
    if (CUresult r = check_device(who, dst, n, "destination")) return r;
    if (dst < src + n && src < dst + n) {
        report(CUDA_ERROR_INVALID_VALUE, who, "source [0x%llx, +%zu) and destination [0x%llx, +%zu) overlap (undefined on a GPU)", src, n, dst, n);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return enqueue([=] { memcpy((void*)dst, (void*)src, n); });
}

API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void* stream) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    (void)stream;
    return dtod("cuMemcpyDtoDAsync", dst, src, n);
}

API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    CUresult r = dtod("cuMemcpyDtoD", dst, src, n);
    flush();
    return r ? r : g_sticky;
}

template <class T> static CUresult memset_n(const char* who, CUdeviceptr dst, T value, size_t count, bool sync) {
    if (count == 0) return CUDA_SUCCESS;
    if (dst % sizeof(T)) {
        report(CUDA_ERROR_INVALID_VALUE, who, "0x%llx is not aligned to %zu bytes", dst, sizeof(T));
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (CUresult r = check_device(who, dst, count * sizeof(T), "destination")) return r;
    CUresult r = enqueue([=] {
        T* p = (T*)dst;
        for (size_t i = 0; i < count; i++) p[i] = value;
    });
    if (sync) flush();
    return r ? r : g_sticky;
}

API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, void* s) { LOCK; CHECK_INIT(); NEED_CTX(); STICKY(); (void)s; return memset_n<uint32_t>("cuMemsetD32Async", d, v, n, false); }
API CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short v, size_t n, void* s) { LOCK; CHECK_INIT(); NEED_CTX(); STICKY(); (void)s; return memset_n<uint16_t>("cuMemsetD16Async", d, v, n, false); }
API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void* s) { LOCK; CHECK_INIT(); NEED_CTX(); STICKY(); (void)s; return memset_n<uint8_t>("cuMemsetD8Async", d, v, n, false); }
API CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n) { LOCK; CHECK_INIT(); NEED_CTX(); STICKY(); return memset_n<uint32_t>("cuMemsetD32", d, v, n, true); }
API CUresult cuMemsetD16_v2(CUdeviceptr d, unsigned short v, size_t n) { LOCK; CHECK_INIT(); NEED_CTX(); STICKY(); return memset_n<uint16_t>("cuMemsetD16", d, v, n, true); }
API CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { LOCK; CHECK_INIT(); NEED_CTX(); STICKY(); return memset_n<uint8_t>("cuMemsetD8", d, v, n, true); }

// ---- streams and events (one in-order queue: a legal schedule of every stream) ----

static int g_streamToken[4096];
static int g_nextStream = 0;

API CUresult cuStreamCreate(void** s, unsigned flags) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (!s || flags > 1) return CUDA_ERROR_INVALID_VALUE;
    *s = &g_streamToken[g_nextStream++ % 4096];
    return CUDA_SUCCESS;
}
API CUresult cuStreamCreateWithPriority(void** s, unsigned flags, int priority) { (void)priority; return cuStreamCreate(s, flags); }
API CUresult cuStreamSynchronize(void* s) { LOCK; CHECK_INIT(); NEED_CTX(); (void)s; flush(); return g_sticky; }
API CUresult cuStreamQuery(void* s) { return cuStreamSynchronize(s); }
API CUresult cuStreamDestroy_v2(void* s) { LOCK; CHECK_INIT(); NEED_CTX(); (void)s; flush(); return CUDA_SUCCESS; }
API CUresult cuStreamWaitEvent(void* s, void* e, unsigned flags) { CHECK_INIT(); (void)s; (void)e; (void)flags; return g_sticky; }

struct Event { bool recorded = false; double ms = 0; };
API CUresult cuEventCreate(void** e, unsigned flags) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    if (!e || flags > 15) return CUDA_ERROR_INVALID_VALUE;
    *e = new Event();
    return CUDA_SUCCESS;
}
API CUresult cuEventRecord(void* e, void* s) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    if (!e) return CUDA_ERROR_INVALID_HANDLE;
    (void)s;
    Event* ev = (Event*)e;
    return enqueue([ev] {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ev->recorded = true;
        ev->ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    });
}
API CUresult cuEventSynchronize(void* e) { LOCK; CHECK_INIT(); NEED_CTX(); if (!e) return CUDA_ERROR_INVALID_HANDLE; flush(); return g_sticky; }
API CUresult cuEventQuery(void* e) { return cuEventSynchronize(e); }
API CUresult cuEventElapsedTime(float* ms, void* a, void* b) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    if (!ms || !a || !b) return CUDA_ERROR_INVALID_VALUE;
    flush();
    *ms = (float)(((Event*)b)->ms - ((Event*)a)->ms);
    return g_sticky;
}
API CUresult cuEventDestroy_v2(void* e) { LOCK; CHECK_INIT(); NEED_CTX(); if (!e) return CUDA_ERROR_INVALID_HANDLE; flush(); delete (Event*)e; return CUDA_SUCCESS; }

// ---- modules ----

static const char SO_MAGIC[8] = {'B', 'S', 'E', 'M', 'U', 'S', 'O', '1'};
static const char* PTX_MAGIC = "// BertSharp CUDA emulator module";

static int b64(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// The shared object inside an image from the emulated NVRTC: "cubin" (magic, length, bytes) or "PTX" (text with
// the bytes in base64 after a "//so " line).
static bool image_bytes(const void* image, std::vector<unsigned char>& out) {
    const char* p = (const char*)image;
    if (memcmp(p, SO_MAGIC, 8) == 0) {
        uint64_t n;
        memcpy(&n, p + 8, 8);
        out.assign(p + 16, p + 16 + n);
        return true;
    }
    if (strncmp(p, PTX_MAGIC, strlen(PTX_MAGIC)) == 0) {
        const char* s = strstr(p, "\n//so ");
        if (!s) return false;
        s += 6;
        int acc = 0, bits = 0;
        for (; *s && *s != '\n'; s++) {
            int v = b64((unsigned char)*s);
            if (v < 0) continue;
            acc = (acc << 6) | v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out.push_back((unsigned char)((acc >> bits) & 0xff));
            }
        }
        return !out.empty();
    }
    return false;
}

API CUresult cuModuleLoadData(void** module, const void* image) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
    std::vector<unsigned char> so;
    if (!image_bytes(image, so)) {
        report(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData", "not a module of the emulated NVRTC (a real cubin or PTX cannot run on the emulator)");
        return CUDA_ERROR_INVALID_IMAGE;
    }
    int fd = memfd_create("bertsharp-cuda-emu-module", MFD_CLOEXEC);
    if (fd < 0) return CUDA_ERROR_UNKNOWN;
    size_t off = 0;
    while (off < so.size()) {
        ssize_t w = write(fd, so.data() + off, so.size() - off);
        if (w <= 0) { close(fd); return CUDA_ERROR_UNKNOWN; }
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    // The descriptor stays open: the loader knows a library by its path, and a later module in a reused
    // /proc/self/fd/N would be taken for this one.
    if (!h) close(fd);
    if (!h) {
        report(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData", "dlopen: %s", dlerror());
        return CUDA_ERROR_INVALID_IMAGE;
    }
    auto ctx = (bs_emu_module_t*)dlsym(h, "bs_emu_module");
    auto kernels = (const bs_emu_kernel_t* (*)(int*))dlsym(h, "bs_emu_get_kernels");
    auto shared = (void (*)(void**, size_t*))dlsym(h, "bs_emu_shared_range");
    if (!ctx || !kernels || !shared || ctx->abi != BS_EMU_ABI) {
        dlclose(h);
        report(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData", "the module lacks the emulator's tables (built by another emulator version?)");
        return CUDA_ERROR_INVALID_IMAGE;
    }
    Module* m = new Module();
    m->handle = h;
    m->ctx = ctx;
    ctx->syncthreads = cb_syncthreads;
    ctx->warp = cb_warp;
    ctx->trap = cb_trap;
    void* sb;
    shared(&sb, &m->sharedSize);
    m->sharedBegin = (char*)sb;
    int n = 0;
    const bs_emu_kernel_t* k = kernels(&n);
    for (int i = 0; i < n; i++) {
        Function* f = new Function();
        f->module = m;
        f->kernel = &k[i];
        m->functions[k[i].name] = f;
    }
    g_modules.push_back(m);
    *module = m;
    return CUDA_SUCCESS;
}

API CUresult cuModuleLoadDataEx(void** module, const void* image, unsigned n, void* options, void** values) {
    (void)n; (void)options; (void)values;
    return cuModuleLoadData(module, image);
}

static Module* valid_module(void* h) {
    for (Module* m : g_modules)
        if (m == h) return m;
    return nullptr;
}

API CUresult cuModuleGetFunction(void** fn, void* module, const char* name) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    if (!fn || !name) return CUDA_ERROR_INVALID_VALUE;
    Module* m = valid_module(module);
    if (!m) return CUDA_ERROR_INVALID_HANDLE;
    auto it = m->functions.find(name);
    if (it == m->functions.end()) return CUDA_ERROR_NOT_FOUND;
    *fn = it->second;
    return CUDA_SUCCESS;
}

API CUresult cuModuleUnload(void* module) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    flush();
    Module* m = valid_module(module);
    if (!m) return CUDA_ERROR_INVALID_HANDLE;
    for (size_t i = 0; i < g_modules.size(); i++)
        if (g_modules[i] == m) g_modules.erase(g_modules.begin() + (long)i);
    // The shared object stays loaded (functions may still be referenced by a caller's cache); its tables go.
    for (auto& kv : m->functions) delete kv.second;
    m->functions.clear();
    return CUDA_SUCCESS;
}

API CUresult cuFuncGetAttribute(int* v, int attr, void* fn) {
    LOCK;
    CHECK_INIT();
    if (!v || !valid_function((Function*)fn)) return CUDA_ERROR_INVALID_VALUE;
    Function* f = (Function*)fn;
    switch (attr) {
    case 0: *v = 1024; break;                                  // MAX_THREADS_PER_BLOCK
    case 1: *v = (int)f->module->sharedSize; break;            // SHARED_SIZE_BYTES (all kernels' static shared)
    case 4: *v = 32; break;                                    // NUM_REGS
    case 8: *v = f->maxDynamicShared; break;                   // MAX_DYNAMIC_SHARED_SIZE_BYTES
    default: *v = 0;
    }
    return CUDA_SUCCESS;
}

API CUresult cuFuncSetAttribute(void* fn, int attr, int value) {
    LOCK;
    CHECK_INIT();
    if (!valid_function((Function*)fn)) return CUDA_ERROR_INVALID_HANDLE;
    if (attr == 8) {
        if (value < 0 || value > 232448) return CUDA_ERROR_INVALID_VALUE;
        ((Function*)fn)->maxDynamicShared = value;
    }
    return CUDA_SUCCESS;
}

API CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned shared, void* stream, void** params, void** extra) {
    LOCK;
    CHECK_INIT(); NEED_CTX();
    STICKY();
    (void)stream;
    Function* f = (Function*)fn;
    if (!valid_function(f)) return CUDA_ERROR_INVALID_HANDLE;
    const bs_emu_kernel_t* k = f->kernel;
    const char* name = k->name;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || bx > 1024 || by > 1024 || bz > 64 ||
        (unsigned long long)bx * by * bz > 1024 || gy > 65535 || gz > 65535 || gx > 2147483647u) {
        report(CUDA_ERROR_INVALID_VALUE, name, "launch with grid (%u,%u,%u) and block (%u,%u,%u) exceeds the device limits", gx, gy, gz, bx, by, bz);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (shared > (unsigned)f->maxDynamicShared || shared + f->module->sharedSize > 232448) {
        report(CUDA_ERROR_INVALID_VALUE, name, "%u bytes of dynamic shared memory exceed the limit (%d; cuFuncSetAttribute raises it)", shared, f->maxDynamicShared);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (extra) {
        report(CUDA_ERROR_NOT_SUPPORTED, name, "the emulator takes kernel parameters only through kernelParams");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (k->params > 0 && !params) {
        report(CUDA_ERROR_INVALID_VALUE, name, "kernelParams is null for a kernel with %d parameters", k->params);
        return CUDA_ERROR_INVALID_VALUE;
    }
    auto L = std::make_shared<Launch>();
    L->fn = f;
    L->grid = {gx, gy, gz};
    L->block = {bx, by, bz};
    L->shared = shared;
    size_t off = 0;
    for (int i = 0; i < k->params; i++) {
        off = (off + 7) & ~(size_t)7;
        L->offsets.push_back(off);
        off += (size_t)k->size[i];
    }
    L->params.resize(off + 8);
    for (int i = 0; i < k->params; i++) {
        if (!params[i]) {
            report(CUDA_ERROR_INVALID_VALUE, name, "kernelParams[%d] is null", i);
            return CUDA_ERROR_INVALID_VALUE;
        }
        memcpy(L->params.data() + L->offsets[i], params[i], (size_t)k->size[i]);
        if (k->pointer[i]) {
            uint64_t p;
            memcpy(&p, params[i], 8);
            std::string why;
            if (p != 0 && !in_device(p, 0, true, &why))
                return fail_sticky(CUDA_ERROR_ILLEGAL_ADDRESS, name, "pointer argument %d: %s", i, why.c_str());
        }
    }
    return enqueue([L] { run_launch(*L); });
}

// ---- errors ----

static const char* error_name(int e) {
    switch (e) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 4: return "CUDA_ERROR_DEINITIALIZED";
    case 100: return "CUDA_ERROR_NO_DEVICE";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 200: return "CUDA_ERROR_INVALID_IMAGE";
    case 201: return "CUDA_ERROR_INVALID_CONTEXT";
    case 400: return "CUDA_ERROR_INVALID_HANDLE";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    case 600: return "CUDA_ERROR_NOT_READY";
    case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
    case 702: return "CUDA_ERROR_LAUNCH_TIMEOUT";
    case 710: return "CUDA_ERROR_ASSERT";
    case 715: return "CUDA_ERROR_ILLEGAL_INSTRUCTION";
    case 719: return "CUDA_ERROR_LAUNCH_FAILED";
    case 801: return "CUDA_ERROR_NOT_SUPPORTED";
    case 999: return "CUDA_ERROR_UNKNOWN";
    default: return nullptr;
    }
}

static const char* error_text(int e) {
    switch (e) {
    case 0: return "no error";
    case 1: return "invalid argument";
    case 2: return "out of memory";
    case 3: return "initialization error";
    case 100: return "no CUDA-capable device is detected";
    case 101: return "invalid device ordinal";
    case 200: return "device kernel image is invalid";
    case 201: return "invalid device context";
    case 400: return "invalid resource handle";
    case 500: return "named symbol not found";
    case 600: return "device not ready";
    case 700: return "an illegal memory access was encountered";
    case 701: return "too many resources requested for launch";
    case 702: return "the launch timed out and was terminated";
    case 710: return "device-side assert triggered";
    case 715: return "an illegal instruction was encountered";
    case 719: return "unspecified launch failure";
    case 801: return "operation not supported";
    default: return nullptr;
    }
}

API CUresult cuGetErrorName(int e, const char** s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    *s = error_name(e);
    return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuGetErrorString(int e, const char** s) {
    LOCK;
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    const char* t = error_text(e);
    if (!t) { *s = nullptr; return CUDA_ERROR_INVALID_VALUE; }
    auto it = g_detail.find(e);
    if (it == g_detail.end()) { *s = t; return CUDA_SUCCESS; }
    static std::map<int, std::string> texts;
    texts[e] = std::string(t) + "; emulator: " + it->second;
    *s = texts[e].c_str();
    return CUDA_SUCCESS;
}

// ---- for the emulated cuBLAS (libcublas.so.13 links this library) ----

API int bsemu_device_range(unsigned long long p, size_t bytes, char* why, size_t whyLen) {
    LOCK;
    std::string w;
    bool ok = in_device(p, bytes, false, &w);
    if (!ok && why && whyLen) snprintf(why, whyLen, "%s", w.c_str());
    return ok;
}

API int bsemu_enqueue(void (*fn)(void*), void* arg, void (*dispose)(void*)) {
    LOCK;
    if (g_sticky) { dispose(arg); return g_sticky; }
    std::shared_ptr<void> holder(arg, dispose);
    return enqueue([fn, holder] { fn(holder.get()); });
}

API int bsemu_fail(int code, const char* who, const char* detail) {
    LOCK;
    return fail_sticky(code, who, "%s", detail);
}

API void bsemu_report(int code, const char* who, const char* detail) {
    LOCK;
    report(code, who, "%s", detail);
}

API int bsemu_sticky() { return g_sticky; }
