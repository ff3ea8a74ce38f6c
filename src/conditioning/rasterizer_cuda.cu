// CUDA rasterizer backend: the CPU backend's algorithm (rasterizer_cpu.cpp) on the GPU, with the same
// Fragments. Only the CUDA runtime API and CUB here (no LibTorch): this file is compiled by nvcc.
//
// One call, on a CUDA stream of its own:
//   1. setup_faces: one thread per face maps the corners to pixel coordinates (u = (x+1)*W/2 - 0.5,
//      v = (y+1)*H/2 - 0.5) in double, applies the CPU backend's skips (non-finite, bounding box wider or
//      taller than 4 image sizes, box outside the image, |area| < 1e-12), computes the edge-function
//      coefficients w_k(i, j) = A_k i + B_k j + C_k and counts the image rows of the clipped box;
//   2. an inclusive scan of those counts (CUB) numbers the (face, row) work items;
//   3. raster_rows<false>: one thread per (face, row) walks the row like the CPU's inner loop
//      (w_k = A_k i0 + B_k j + C_k, then w_k += A_k per pixel; covered when every w_k >= -1e-6) and, for
//      each covered pixel, atomicMin's the 64-bit key (order-preserving bits of the float z) << 32 | face
//      into the pixel: the smallest z wins and an exact tie goes to the lower face index, whatever order
//      the threads run in (deterministic);
//   4. raster_rows<true>: the same walk again; where the pixel's key is this face's, the thread writes
//      face, barycentrics and depth (one writer per pixel). Other pixels keep face -1, bary 0, depth +inf.
//
// Agreement with the CPU backend. Every double operation that decides coverage, depth or barycentrics
// uses the round-to-nearest intrinsics (__dadd_rn, __dmul_rn, ...), which nvcc never fuses into an FMA,
// in the CPU backend's order of evaluation, including the incremental w_k += A_k along the row. A pixel
// therefore sees the very doubles the CPU backend computes, and the output is identical, as long as the
// CPU backend is itself compiled without floating-point contraction (the case for x86-64 without -march
// flags, which has no FMA instruction). If the host compiler fuses a*b + c there (e.g. NED_NATIVE's
// -march=native), the backends differ by rounding (~1e-16 relative) in the barycentrics: faces can then
// differ only at pixels whose centre lies within ~1e-9 pixel of an edge (the -1e-6 tolerance boundary) or
// whose two nearest depths round to float differently, and barycentrics/depth agree to ~1e-6 or better.
// One deliberate difference on hostile input: the CPU backend casts the clipped box to int before testing
// it against the image, which is undefined for a finite box beyond +-2^31 pixels; here the box is tested
// in double first and such a face covers nothing. For boxes within int range the two agree.
//
// Device memory is kept between calls in workspaces (one per concurrent call, each with its own stream),
// so one backend may serve several threads at once; a call runs on the device that was current when the
// backend was created and restores the calling thread's current device afterwards.
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include <cub/device/device_scan.cuh>

#include "backends.hpp"
#include "ned/core/error.hpp"

namespace ned::conditioning {

bool cuda_rasterizer_available() noexcept {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();  // clear it: it must not surface in a later, unrelated CUDA call
        return false;
    }
    return count > 0;
}

namespace detail {
namespace {

// Same constants as the CPU backend.
constexpr double kEdgeEps = 1e-6;
constexpr double kMaxSpan = 4.0;

constexpr unsigned long long kEmptyKey = ~0ull;  // no face (above any face's key: see depth_key)
constexpr int kBlock = 256;
constexpr unsigned kMaxGrid = 65535;  // kernels loop grid-stride over their items

// ---- arithmetic shared by the kernels (host-callable too, so the steps can be checked on a CPU) -------------

// IEEE double operations rounded to nearest, never contracted into an FMA on the device; plain operators
// on the host.
__host__ __device__ inline double dadd(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}
__host__ __device__ inline double dsub(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dsub_rn(a, b);
#else
    return a - b;
#endif
}
__host__ __device__ inline double dmul(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
__host__ __device__ inline double ddiv(double a, double b) {
#ifdef __CUDA_ARCH__
    return __ddiv_rn(a, b);
#else
    return a / b;
#endif
}
__host__ __device__ inline bool is_finite(double x) { return fabs(x) <= DBL_MAX; }  // false for inf and NaN
__host__ __device__ inline double min3(double a, double b, double c) {
    const double m = b < a ? b : a;
    return c < m ? c : m;
}
__host__ __device__ inline double max3(double a, double b, double c) {
    const double m = a < b ? b : a;
    return m < c ? c : m;
}

/// What a face needs to be rasterized, computed once per face.
struct FaceSetup {
    double A[3], B[3], C[3];  ///< weight of corner k at pixel (i, j): A[k] i + B[k] j + C[k]
    double z[3];              ///< corner depths
    int i0, i1;               ///< clipped columns
    int j0;                   ///< first clipped row (the row count is setup_face's result)
};

/// Fill `s` for face `f` and return the number of image rows it spans (0 = the face covers no pixel).
/// Mirrors CpuBackend::band step by step.
__host__ __device__ inline unsigned long long setup_face(const float* verts, const int32_t* faces, int64_t f, int width,
                                                         int height, FaceSetup& s) {
    const double sx = width * 0.5, sy = height * 0.5;
    double P[3][3];
    for (int k = 0; k < 3; ++k) {
        const float* v = verts + 3 * static_cast<int64_t>(faces[3 * f + k]);
        P[k][0] = dsub(dmul(dadd(static_cast<double>(v[0]), 1.0), sx), 0.5);
        P[k][1] = dsub(dmul(dadd(static_cast<double>(v[1]), 1.0), sy), 0.5);
        P[k][2] = v[2];
        // The CPU skips a face whose box is non-finite; a NaN corner it may keep, but then every weight is
        // NaN and the face writes nothing: skipping it is the same output.
        if (!is_finite(P[k][0]) || !is_finite(P[k][1])) return 0;
    }
    const double* a = P[0];
    const double* b = P[1];
    const double* c = P[2];
    const double xmin = min3(a[0], b[0], c[0]), xmax = max3(a[0], b[0], c[0]);
    const double ymin = min3(a[1], b[1], c[1]), ymax = max3(a[1], b[1], c[1]);
    if (xmax - xmin > kMaxSpan * width || ymax - ymin > kMaxSpan * height) return 0;
    // Clipped box, tested in double before any int conversion (see the header comment).
    const double jlo = ceil(fmax(ymin, -1.0)), jhi = floor(fmin(ymax, static_cast<double>(height)));
    const double ilo = ceil(fmax(xmin, -1.0)), ihi = floor(fmin(xmax, static_cast<double>(width)));
    if (jlo > height - 1 || jhi < 0 || ilo > width - 1 || ihi < 0) return 0;
    const int j0 = jlo < 0 ? 0 : static_cast<int>(jlo);
    const int j1 = jhi > height - 1 ? height - 1 : static_cast<int>(jhi);
    const int i0 = ilo < 0 ? 0 : static_cast<int>(ilo);
    const int i1 = ihi > width - 1 ? width - 1 : static_cast<int>(ihi);
    if (j0 > j1 || i0 > i1) return 0;
    const double area = dsub(dmul(dsub(b[0], a[0]), dsub(c[1], a[1])), dmul(dsub(c[0], a[0]), dsub(b[1], a[1])));
    if (fabs(area) < 1e-12) return 0;  // degenerate
    const double inv = ddiv(1.0, area);
    s.A[0] = dmul(dsub(b[1], c[1]), inv);
    s.B[0] = dmul(dsub(c[0], b[0]), inv);
    s.C[0] = dmul(dsub(dmul(b[0], c[1]), dmul(c[0], b[1])), inv);
    s.A[1] = dmul(dsub(c[1], a[1]), inv);
    s.B[1] = dmul(dsub(a[0], c[0]), inv);
    s.C[1] = dmul(dsub(dmul(c[0], a[1]), dmul(a[0], c[1])), inv);
    s.A[2] = dmul(dsub(a[1], b[1]), inv);
    s.B[2] = dmul(dsub(b[0], a[0]), inv);
    s.C[2] = dmul(dsub(dmul(a[0], b[1]), dmul(b[0], a[1])), inv);
    s.z[0] = a[2];
    s.z[1] = b[2];
    s.z[2] = c[2];
    s.i0 = i0;
    s.i1 = i1;
    s.j0 = j0;
    return static_cast<unsigned long long>(j1 - j0 + 1);
}

/// z-buffer key of face f at depth z: unsigned order of the key = order of z, then of f. -0 is keyed as
/// +0 (the CPU's `z < depth` ties them). Only for z < +inf (NaN and +inf never win on the CPU).
__host__ __device__ inline unsigned long long depth_key(float z, int32_t f) {
    if (z == 0.f) z = 0.f;
    uint32_t u;
    memcpy(&u, &z, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (static_cast<unsigned long long>(u) << 32) | static_cast<uint32_t>(f);
}

__host__ __device__ inline void min_key(unsigned long long* slot, unsigned long long key) {
#ifdef __CUDA_ARCH__
    atomicMin(slot, key);
#else
    if (key < *slot) *slot = key;  // host: single-threaded checks only
#endif
}

/// Walk row j of face f exactly as the CPU backend's inner loop does. kResolve = false: bid for every
/// covered pixel; true: write the fragments of the pixels this face won.
template <bool kResolve>
__host__ __device__ inline void walk_row(const FaceSetup& s, int32_t f, int j, int width, unsigned long long* keys,
                                         int32_t* face, float* bary, float* depth) {
    const double dj = j;
    double w0 = dadd(dadd(dmul(s.A[0], s.i0), dmul(s.B[0], dj)), s.C[0]);
    double w1 = dadd(dadd(dmul(s.A[1], s.i0), dmul(s.B[1], dj)), s.C[1]);
    double w2 = dadd(dadd(dmul(s.A[2], s.i0), dmul(s.B[2], dj)), s.C[2]);
    int64_t p = static_cast<int64_t>(j) * width + s.i0;
    for (int i = s.i0; i <= s.i1; ++i, ++p, w0 = dadd(w0, s.A[0]), w1 = dadd(w1, s.A[1]), w2 = dadd(w2, s.A[2])) {
        if (w0 < -kEdgeEps || w1 < -kEdgeEps || w2 < -kEdgeEps) continue;
        const float z = static_cast<float>(dadd(dadd(dmul(w0, s.z[0]), dmul(w1, s.z[1])), dmul(w2, s.z[2])));
        if (!(z <= FLT_MAX)) continue;  // NaN or +inf: never nearer than the background
        const unsigned long long key = depth_key(z, f);
        if constexpr (!kResolve) {
            min_key(keys + p, key);
        } else if (keys[p] == key) {
            face[p] = f;
            bary[3 * p] = static_cast<float>(w0);
            bary[3 * p + 1] = static_cast<float>(w1);
            bary[3 * p + 2] = static_cast<float>(w2);
            depth[p] = z;
        }
    }
}

/// Face of work item t: the first f with ends[f] > t (ends = inclusive scan of the row counts).
__host__ __device__ inline int64_t item_face(const unsigned long long* ends, int64_t num_faces, unsigned long long t) {
    int64_t lo = 0, hi = num_faces - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (ends[mid] > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

// ---- kernels ------------------------------------------------------------------------------------------------

__device__ inline unsigned long long thread_index() {
    return static_cast<unsigned long long>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline unsigned long long grid_stride() { return static_cast<unsigned long long>(gridDim.x) * blockDim.x; }

__global__ void setup_faces(const float* verts, const int32_t* faces, int64_t num_faces, int width, int height,
                            FaceSetup* setup, unsigned long long* rows) {
    for (unsigned long long f = thread_index(); f < static_cast<unsigned long long>(num_faces); f += grid_stride())
        rows[f] = setup_face(verts, faces, static_cast<int64_t>(f), width, height, setup[f]);
}

__global__ void clear_pixels(int64_t num_pixels, unsigned long long* keys, int32_t* face, float* bary, float* depth) {
    for (unsigned long long p = thread_index(); p < static_cast<unsigned long long>(num_pixels); p += grid_stride()) {
        keys[p] = kEmptyKey;
        face[p] = -1;
        bary[3 * p] = bary[3 * p + 1] = bary[3 * p + 2] = 0.f;
        depth[p] = INFINITY;
    }
}

template <bool kResolve>
__global__ void raster_rows(const FaceSetup* setup, const unsigned long long* ends, int64_t num_faces,
                            unsigned long long num_items, int width, unsigned long long* keys, int32_t* face,
                            float* bary, float* depth) {
    for (unsigned long long t = thread_index(); t < num_items; t += grid_stride()) {
        const int64_t f = item_face(ends, num_faces, t);
        const unsigned long long first = f > 0 ? ends[f - 1] : 0ull;
        const FaceSetup& s = setup[f];
        walk_row<kResolve>(s, static_cast<int32_t>(f), s.j0 + static_cast<int>(t - first), width, keys, face, bary,
                           depth);
    }
}

unsigned grid_for(unsigned long long items) {
    const unsigned long long blocks = (items + kBlock - 1) / kBlock;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGrid ? kMaxGrid : blocks));
}

// ---- host side ----------------------------------------------------------------------------------------------

[[noreturn]] void throw_cuda(cudaError_t e, const char* what) {
    (void)cudaGetLastError();  // clear a non-sticky error so that it does not resurface elsewhere
    throw BackendError(
        cat("[render] CUDA rasterizer: ", what, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
}

void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw_cuda(e, what);
}

/// Grow-only device array (contents are not kept when it grows).
template <typename T>
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() {
        if (ptr_) (void)cudaFree(ptr_);
    }

    T* get() const { return ptr_; }

    void reserve(size_t n, const char* what) {
        if (n <= capacity_) return;
        if (ptr_) {
            void* old = ptr_;
            ptr_ = nullptr;
            capacity_ = 0;
            check(cudaFree(old), "cudaFree");
        }
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, n * sizeof(T));
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            throw BackendError(cat("[render] CUDA rasterizer: cannot allocate ", n * sizeof(T),
                                   " bytes of GPU memory for ", what, ": ", cudaGetErrorName(e), " (",
                                   cudaGetErrorString(e), ")"));
        }
        ptr_ = static_cast<T*>(p);
        capacity_ = n;
    }

private:
    T* ptr_ = nullptr;
    size_t capacity_ = 0;
};

/// Device memory and stream of one call in flight.
struct Workspace {
    cudaStream_t stream = nullptr;
    DeviceBuffer<float> verts;
    DeviceBuffer<int32_t> faces;
    DeviceBuffer<FaceSetup> setup;
    DeviceBuffer<unsigned long long> rows, ends, keys;
    DeviceBuffer<unsigned char> scan_temp;
    DeviceBuffer<int32_t> face;
    DeviceBuffer<float> bary, depth;

    Workspace() { check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"); }
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    ~Workspace() {
        if (stream) {
            (void)cudaStreamSynchronize(stream);  // buffers are freed after this body
            (void)cudaStreamDestroy(stream);
        }
    }
};

/// Makes `device` current for the scope, restoring the calling thread's device afterwards.
class DeviceGuard {
public:
    explicit DeviceGuard(int device) : device_(device) {
        check(cudaGetDevice(&previous_), "cudaGetDevice");
        if (previous_ != device_) check(cudaSetDevice(device_), "cudaSetDevice");
    }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;
    ~DeviceGuard() {
        if (previous_ != device_) (void)cudaSetDevice(previous_);
    }

private:
    int device_;
    int previous_ = -1;
};

class CudaBackend final : public RasterizerBackend {
public:
    explicit CudaBackend(int device) : device_(device) {}

    ~CudaBackend() override {
        int previous = -1;
        const bool switched =
            cudaGetDevice(&previous) == cudaSuccess && previous != device_ && cudaSetDevice(device_) == cudaSuccess;
        idle_.clear();
        if (switched) (void)cudaSetDevice(previous);
        (void)cudaGetLastError();  // e.g. cudaErrorCudartUnloading when destroyed at process exit
    }

    void rasterize(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, int width,
                   int height, Fragments& out) const override {
        const int64_t n = static_cast<int64_t>(width) * height;
        out.width = width;
        out.height = height;
        out.face.resize(n);
        out.bary.resize(n * 3);
        out.depth.resize(n);
        if (num_faces <= 0) {
            out.face.assign(n, -1);
            out.bary.assign(n * 3, 0.f);
            out.depth.assign(n, INFINITY);
            return;
        }
        if (num_faces > INT32_MAX)
            throw Error(cat("[render] CUDA rasterizer: ", num_faces, " faces, at most ", INT32_MAX, " supported"));
        DeviceGuard guard(device_);
        std::unique_ptr<Workspace> ws = acquire();
        run(*ws, verts, num_verts, faces, num_faces, width, height, out);
        release(std::move(ws));  // on an exception the workspace is destroyed instead
    }

private:
    void run(Workspace& ws, const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, int width,
             int height, Fragments& out) const {
        const cudaStream_t st = ws.stream;
        const size_t nv = static_cast<size_t>(num_verts), nf = static_cast<size_t>(num_faces);
        const size_t np = static_cast<size_t>(width) * static_cast<size_t>(height);
        ws.verts.reserve(3 * nv, "the vertices");
        ws.faces.reserve(3 * nf, "the faces");
        ws.setup.reserve(nf, "the face setup");
        ws.rows.reserve(nf, "the row counts");
        ws.ends.reserve(nf, "the row counts");
        ws.keys.reserve(np, "the z-buffer");
        ws.face.reserve(np, "the fragments");
        ws.bary.reserve(3 * np, "the fragments");
        ws.depth.reserve(np, "the fragments");
        size_t scan_bytes = 0;
        check(cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, ws.rows.get(), ws.ends.get(),
                                            static_cast<int>(num_faces), st),
              "sizing the row scan");
        ws.scan_temp.reserve(scan_bytes, "the row scan");

        check(cudaMemcpyAsync(ws.verts.get(), verts, 3 * nv * sizeof(float), cudaMemcpyHostToDevice, st),
              "copying the vertices to the GPU");
        check(cudaMemcpyAsync(ws.faces.get(), faces, 3 * nf * sizeof(int32_t), cudaMemcpyHostToDevice, st),
              "copying the faces to the GPU");
        setup_faces<<<grid_for(nf), kBlock, 0, st>>>(ws.verts.get(), ws.faces.get(), num_faces, width, height,
                                                     ws.setup.get(), ws.rows.get());
        check(cudaGetLastError(), "launching setup_faces");
        check(cub::DeviceScan::InclusiveSum(ws.scan_temp.get(), scan_bytes, ws.rows.get(), ws.ends.get(),
                                            static_cast<int>(num_faces), st),
              "the row scan");
        clear_pixels<<<grid_for(np), kBlock, 0, st>>>(static_cast<int64_t>(np), ws.keys.get(), ws.face.get(),
                                                      ws.bary.get(), ws.depth.get());
        check(cudaGetLastError(), "launching clear_pixels");
        unsigned long long num_items = 0;
        check(cudaMemcpyAsync(&num_items, ws.ends.get() + (nf - 1), sizeof num_items, cudaMemcpyDeviceToHost, st),
              "copying the row count from the GPU");
        check(cudaStreamSynchronize(st), "setting up the faces");

        if (num_items > 0) {
            raster_rows<false><<<grid_for(num_items), kBlock, 0, st>>>(
                ws.setup.get(), ws.ends.get(), num_faces, num_items, width, ws.keys.get(), nullptr, nullptr, nullptr);
            check(cudaGetLastError(), "launching raster_rows (z-buffer)");
            raster_rows<true><<<grid_for(num_items), kBlock, 0, st>>>(ws.setup.get(), ws.ends.get(), num_faces,
                                                                      num_items, width, ws.keys.get(), ws.face.get(),
                                                                      ws.bary.get(), ws.depth.get());
            check(cudaGetLastError(), "launching raster_rows (fragments)");
        }
        check(cudaMemcpyAsync(out.face.data(), ws.face.get(), np * sizeof(int32_t), cudaMemcpyDeviceToHost, st),
              "copying the fragments from the GPU");
        check(cudaMemcpyAsync(out.bary.data(), ws.bary.get(), 3 * np * sizeof(float), cudaMemcpyDeviceToHost, st),
              "copying the fragments from the GPU");
        check(cudaMemcpyAsync(out.depth.data(), ws.depth.get(), np * sizeof(float), cudaMemcpyDeviceToHost, st),
              "copying the fragments from the GPU");
        check(cudaStreamSynchronize(st), "rasterizing");
    }

    std::unique_ptr<Workspace> acquire() const {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!idle_.empty()) {
                std::unique_ptr<Workspace> ws = std::move(idle_.back());
                idle_.pop_back();
                return ws;
            }
        }
        return std::make_unique<Workspace>();
    }

    void release(std::unique_ptr<Workspace> ws) const {
        std::lock_guard<std::mutex> lock(mutex_);
        idle_.push_back(std::move(ws));
    }

    int device_;
    mutable std::mutex mutex_;
    mutable std::vector<std::unique_ptr<Workspace>> idle_;  ///< workspaces of finished calls, reused
};

}  // namespace

std::unique_ptr<RasterizerBackend> make_cuda_backend() {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        throw BackendError(
            cat("[render] the CUDA rasterizer backend needs a CUDA device, but the CUDA runtime found "
                "none: ",
                cudaGetErrorName(e), " (", cudaGetErrorString(e), "); use the CPU backend"));
    }
    if (count == 0)
        throw BackendError(
            "[render] the CUDA rasterizer backend needs a CUDA device, but none is visible (check the driver and "
            "CUDA_VISIBLE_DEVICES); use the CPU backend");
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    // Fail here, not at the first call, when this build has no kernel image for the device's architecture.
    cudaFuncAttributes attributes;
    const cudaError_t k = cudaFuncGetAttributes(&attributes, setup_faces);
    if (k != cudaSuccess) {
        (void)cudaGetLastError();
        int major = 0, minor = 0;
        (void)cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
        (void)cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
        (void)cudaGetLastError();
        throw BackendError(cat("[render] the CUDA rasterizer cannot run on CUDA device ", device,
                               " (compute capability ", major, ".", minor, "): ", cudaGetErrorName(k), " (",
                               cudaGetErrorString(k),
                               "); rebuild ned with CMAKE_CUDA_ARCHITECTURES covering this GPU, or use the CPU "
                               "backend"));
    }
    return std::make_unique<CudaBackend>(device);
}

}  // namespace detail
}  // namespace ned::conditioning
