using System.Runtime.InteropServices;

namespace BertSharp.Cuda;

/// <summary>
/// Finds the CUDA libraries the way users have them installed, in this order: the folders of
/// <c>BERTSHARP_CUDA_LIBS</c> (colon-separated), <c>CUDA_HOME</c>/<c>CUDA_PATH</c> (lib64, lib,
/// targets/x86_64-linux/lib), the NVIDIA Python wheels (<c>site-packages/nvidia/*/lib</c>), the usual toolkit
/// folders, and last the system loader's own search by file name. Within one folder the highest version comes
/// first. Pure functions over a directory listing, so the order is unit-tested on a fake tree.
/// </summary>
public static class CudaLibraries
{
    /// <summary>The variable that points at folders holding the CUDA libraries (searched first).</summary>
    public const string PathVariable = "BERTSHARP_CUDA_LIBS";

    /// <summary>The file-name stem of a library (<c>libnvrtc</c>, ...).</summary>
    public static string Stem(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => "libcuda",
        CudaLibrary.Nvrtc => "libnvrtc",
        CudaLibrary.Cublas => "libcublas",
        CudaLibrary.CublasLt => "libcublasLt",
        _ => throw new ArgumentOutOfRangeException(nameof(library)),
    };

    /// <summary>Bare sonames the system loader is asked for when no folder holds the library, newest first.</summary>
    public static IReadOnlyList<string> LoaderNames(CudaLibrary library)
    {
        string stem = Stem(library);
        if (library == CudaLibrary.Driver) return ["libcuda.so.1"];
        return [$"{stem}.so.13", $"{stem}.so.12", $"{stem}.so.11", $"{stem}.so"];
    }

    /// <summary>The folders searched, in order, from the environment (<paramref name="environment"/> reads a
    /// variable) and the Python site-packages folders found (<paramref name="sitePackages"/>).</summary>
    public static IReadOnlyList<string> SearchFolders(Func<string, string?> environment, IEnumerable<string> sitePackages,
        Func<string, IEnumerable<string>> listFolders)
    {
        var folders = new List<string>();
        void Add(string? f)
        {
            if (!string.IsNullOrWhiteSpace(f) && !folders.Contains(f)) folders.Add(f);
        }
        foreach (var f in (environment(PathVariable) ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            Add(f);
        foreach (var v in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            string? home = environment(v);
            if (string.IsNullOrWhiteSpace(home)) continue;
            Add(Path.Combine(home, "lib64"));
            Add(Path.Combine(home, "lib"));
            Add(Path.Combine(home, "targets", "x86_64-linux", "lib"));
        }
        foreach (var site in sitePackages)
        {
            // nvidia/cublas/lib, nvidia/cuda_nvrtc/lib (CUDA 12 wheels), nvidia/cu13/lib (CUDA 13 wheels).
            var nvidia = Path.Combine(site, "nvidia");
            foreach (var package in listFolders(nvidia).Order(StringComparer.Ordinal))
            {
                Add(Path.Combine(package, "lib"));
                Add(Path.Combine(package, "lib64"));
            }
        }
        Add("/usr/local/cuda/lib64");
        Add("/usr/local/nvidia/lib64");
        Add("/usr/lib/x86_64-linux-gnu");
        Add("/usr/lib64");
        return folders;
    }

    /// <summary>The files of <paramref name="library"/> in <paramref name="folders"/>, folder by folder, highest
    /// version first within a folder (<c>libnvrtc.so.13.0.48</c> before <c>libnvrtc.so.13</c> before
    /// <c>libnvrtc.so</c>); <paramref name="listFiles"/> lists a folder's file names (empty when it is missing).</summary>
    public static IReadOnlyList<string> Candidates(CudaLibrary library, IEnumerable<string> folders, Func<string, IEnumerable<string>> listFiles)
    {
        string stem = Stem(library);
        var result = new List<string>();
        foreach (var folder in folders)
        {
            var matches = listFiles(folder)
                .Select(Path.GetFileName)
                .Where(n => n is not null && IsLibraryFile(n, stem, library))
                .Select(n => (Name: n!, Version: ParseSoVersion(n!)))
                .OrderByDescending(x => x.Version ?? new Version(0, 0))
                .ThenByDescending(x => x.Name.Length)
                .ThenBy(x => x.Name, StringComparer.Ordinal);
            foreach (var m in matches) result.Add(Path.Combine(folder, m.Name));
        }
        return result;
    }

    private static bool IsLibraryFile(string name, string stem, CudaLibrary library)
    {
        if (name == stem + ".so") return library != CudaLibrary.Driver; // libcuda.so is the linker stub's name
        if (!name.StartsWith(stem + ".so.", StringComparison.Ordinal)) return false;
        var version = ParseSoVersion(name);
        if (version is null) return false;
        return library != CudaLibrary.Driver || version.Major == 1;
    }

    /// <summary>The version in a shared-object name: <c>libnvrtc.so.13.0.48</c> → 13.0.48, <c>libcuda.so.1</c> → 1.0;
    /// null when there is none or it is not numeric (<c>libnvrtc.so</c>, <c>libnvrtc.so.alt</c>).</summary>
    public static Version? ParseSoVersion(string fileName)
    {
        int i = fileName.IndexOf(".so.", StringComparison.Ordinal);
        if (i < 0) return null;
        var parts = fileName[(i + 4)..].Split('.');
        if (parts.Length == 0 || parts.Length > 4) return null;
        var numbers = new int[parts.Length];
        for (int k = 0; k < parts.Length; k++)
            if (!int.TryParse(parts[k], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out numbers[k]))
                return null;
        return numbers.Length switch
        {
            1 => new Version(numbers[0], 0),
            2 => new Version(numbers[0], numbers[1]),
            3 => new Version(numbers[0], numbers[1], numbers[2]),
            _ => new Version(numbers[0], numbers[1], numbers[2], numbers[3]),
        };
    }

    /// <summary>A CUDA version integer (<c>cuDriverGetVersion</c>, <c>cublasGetVersion</c>'s major·1000 + minor·10)
    /// as text: 13000 → "13.0", 12080 → "12.8".</summary>
    public static string FormatCudaVersion(int version) => version <= 0 ? "unknown" : $"{version / 1000}.{version % 1000 / 10}";

    /// <summary>Python site-packages folders on this machine: the active virtual or conda environment, the user's and
    /// the system's Python 3 installations.</summary>
    public static IReadOnlyList<string> SitePackages(Func<string, string?> environment)
    {
        var roots = new List<string>();
        foreach (var v in new[] { "VIRTUAL_ENV", "CONDA_PREFIX" })
            if (environment(v) is { Length: > 0 } p) roots.Add(Path.Combine(p, "lib"));
        if (environment("HOME") is { Length: > 0 } home) roots.Add(Path.Combine(home, ".local", "lib"));
        roots.AddRange(["/usr/local/lib", "/usr/lib", "/opt/conda/lib", "/usr/local/lib64"]);
        var result = new List<string>();
        foreach (var root in roots)
        {
            foreach (var python in SafeFolders(root).Where(d => Path.GetFileName(d).StartsWith("python3", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                foreach (var name in new[] { "site-packages", "dist-packages" })
                {
                    var site = Path.Combine(python, name);
                    if (Directory.Exists(site) && !result.Contains(site)) result.Add(site);
                }
        }
        return result;
    }

    /// <summary>The sub-folders of <paramref name="folder"/>, none when it is missing or unreadable.</summary>
    public static IEnumerable<string> SafeFolders(string folder)
    {
        try { return Directory.Exists(folder) ? Directory.GetDirectories(folder) : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>The files of <paramref name="folder"/>, none when it is missing or unreadable.</summary>
    public static IEnumerable<string> SafeFiles(string folder)
    {
        try { return Directory.Exists(folder) ? Directory.GetFiles(folder) : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>The CUDA major version of a driver version integer (<c>cuDriverGetVersion</c>: 12080 → 12); 0 when unknown.</summary>
    public static int DriverMajor(int driverVersion) => driverVersion <= 0 ? 0 : driverVersion / 1000;

    /// <summary>True when the library file or soname <paramref name="candidate"/> can run under a driver of
    /// <paramref name="driverVersion"/>: its major version (from the name) is at most the driver's CUDA major. A CUDA 12
    /// driver cannot run cuBLAS 13 or NVRTC 13 code. Names without a version, the driver itself and an unknown driver
    /// version (0) pass (a loaded library's own version is checked after loading).</summary>
    public static bool FitsDriver(CudaLibrary library, string candidate, int driverVersion)
    {
        if (library == CudaLibrary.Driver || driverVersion <= 0) return true;
        var version = ParseSoVersion(Path.GetFileName(candidate));
        return version is null || version.Major <= DriverMajor(driverVersion);
    }

    /// <summary>The library choice as a pure function: <paramref name="candidates"/> in search order, without those
    /// whose major version is above the driver's (<see cref="FitsDriver"/>). With a CUDA 12 driver and both the cu12 and
    /// cu13 wheels installed, the 12 libraries come first.</summary>
    public static IReadOnlyList<string> ForDriver(CudaLibrary library, IEnumerable<string> candidates, int driverVersion)
        => candidates.Where(c => FitsDriver(library, c, driverVersion)).ToList();

    /// <summary>The files NVRTC opens by bare name at compile time (<c>libnvrtc-builtins.so.MAJOR.MINOR</c>) found in the
    /// folder of the NVRTC loaded from <paramref name="nvrtcPath"/>, best first: the exact MAJOR.MINOR, then other
    /// MAJOR.* versions (highest first). Empty when <paramref name="nvrtcPath"/> is a bare name (the loader's search
    /// finds the builtins too) or the folder holds none. Preloading this file by full path lets NVRTC's own
    /// <c>dlopen</c> find it when the folder is not on the loader path.</summary>
    public static IReadOnlyList<string> NvrtcBuiltins(string nvrtcPath, int major, int minor, Func<string, IEnumerable<string>> listFiles)
    {
        string? folder = Path.GetDirectoryName(nvrtcPath);
        if (string.IsNullOrEmpty(folder) || !nvrtcPath.Contains('/')) return [];
        const string stem = "libnvrtc-builtins.so.";
        var found = listFiles(folder).Select(Path.GetFileName)
            .Where(n => n is not null && n.StartsWith(stem, StringComparison.Ordinal))
            .Select(n => (Name: n!, Version: ParseSoVersion(n!)))
            .Where(x => x.Version is not null && x.Version.Major == major)
            .OrderByDescending(x => x.Version!.Minor == minor)
            .ThenByDescending(x => x.Version)
            .ThenBy(x => x.Name, StringComparer.Ordinal)
            .Select(x => Path.Combine(folder, x.Name));
        return found.ToList();
    }

    /// <summary>The candidates for <paramref name="library"/> on this machine, in search order, the loader's bare
    /// names last.</summary>
    public static IReadOnlyList<string> Candidates(CudaLibrary library)
    {
        Func<string, string?> env = Environment.GetEnvironmentVariable;
        var folders = SearchFolders(env, SitePackages(env), SafeFolders);
        var list = new List<string>();
        if (library == CudaLibrary.Driver)
        {
            // The driver is the system's: the loader's search first (it knows the driver's folder), then folders.
            list.AddRange(LoaderNames(library));
            list.AddRange(Candidates(library, folders, SafeFiles));
        }
        else
        {
            list.AddRange(Candidates(library, folders, SafeFiles));
            list.AddRange(LoaderNames(library));
        }
        return list;
    }

    /// <summary>Loads the first candidate of <paramref name="library"/> that loads; null with the reason when none
    /// does.</summary>
    public static nint TryLoad(CudaLibrary library, out string path, out string reason) => TryLoad(library, 0, null, out path, out reason);

    /// <summary>Loads the first candidate of <paramref name="library"/> that fits a driver of
    /// <paramref name="driverVersion"/> (<see cref="ForDriver"/>; 0: any) and that <paramref name="reject"/> (given the
    /// handle and path, returning a reason or null) accepts; a rejected library is freed and the next one tried.</summary>
    public static nint TryLoad(CudaLibrary library, int driverVersion, Func<nint, string, string?>? reject, out string path, out string reason)
    {
        var all = Candidates(library);
        var tried = ForDriver(library, all, driverVersion);
        string? firstError = null;
        if (tried.Count < all.Count)
            firstError = $"{all.First(c => !FitsDriver(library, c, driverVersion))} skipped: newer than the CUDA {FormatCudaVersion(driverVersion)} driver";
        foreach (var candidate in tried)
        {
            if (candidate.Contains('/') && !File.Exists(candidate)) continue;
            try
            {
                nint handle = NativeLibrary.Load(candidate);
                if (reject?.Invoke(handle, candidate) is { } why)
                {
                    firstError ??= $"{candidate}: {why}";
                    NativeLibrary.Free(handle);
                    continue;
                }
                path = candidate;
                reason = "";
                return handle;
            }
            catch (DllNotFoundException e)
            {
                if (candidate.Contains('/')) firstError ??= $"{candidate}: {FirstLine(e.Message)}";
            }
            catch (BadImageFormatException e)
            {
                firstError ??= $"{candidate}: {FirstLine(e.Message)}";
            }
        }
        path = "";
        reason = firstError is null
            ? $"{LoaderNames(library)[0]} not found (searched ${PathVariable}, CUDA_HOME, CUDA_PATH, site-packages/nvidia/*/lib and the system loader path)"
            : $"{LoaderNames(library)[0]} did not load ({firstError})";
        return 0;
    }

    internal static string FirstLine(string s)
    {
        int i = s.IndexOfAny(['\r', '\n']);
        return (i < 0 ? s : s[..i]).Trim();
    }
}
