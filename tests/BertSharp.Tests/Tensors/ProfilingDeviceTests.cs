using System.Reflection;
using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

public class ProfilingDeviceTests
{
    [Fact]
    public void It_overrides_every_abstract_and_virtual_member_of_Device()
    {
        // An abstract member it lacked would not compile; a virtual one it lacked would silently run Device's default
        // (e.g. Precision: fp32) instead of the inner device's.
        var members = typeof(Device).GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Where(m => m.IsVirtual && !m.IsFinal).ToList();
        Assert.Contains(members, m => m.Name == "get_Precision");
        Assert.Contains(members, m => m.Name == nameof(Device.Sgemm));
        var overridden = typeof(ProfilingDevice).GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Select(m => m.GetBaseDefinition()).ToHashSet();
        Assert.Empty(members.Where(m => !overridden.Contains(m)).Select(m => m.Name));
    }

    [Fact]
    public void Every_kernel_gives_the_inner_devices_bits_and_is_recorded_under_its_name()
    {
        var profiled = new ProfilingDevice(Device.Cpu);
        var results = DeviceComparison.Run(Device.Cpu, profiled, fp32Tolerance: 0);
        Assert.True(results.Count >= 30, $"{results.Count} checks");
        Assert.All(results, r => Assert.True(r.Passed && r.MaxAbs == 0, $"{r.Kernel}: {r.Error} {r.MaxAbs}"));

        // Every method that does work on the device was called through the decorator and timed under its own name.
        var work = typeof(Device).GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.DeclaredOnly)
            .Where(m => m.IsAbstract && !m.IsSpecialName && m.Name is not (nameof(Device.Synchronize) or nameof(Device.BiasCrossEntropyScratch)))
            .Select(m => m.Name).ToHashSet();
        var recorded = profiled.Profile.Calls.Select(c => c.Kernel).ToHashSet();
        Assert.Empty(work.Except(recorded));
        Assert.Empty(recorded.Except(work));
        Assert.All(profiled.Profile.Calls, c => Assert.True(c.Seconds >= 0));
    }

    [Fact]
    public void It_is_the_inner_device_in_name_precision_and_memory()
    {
        var profiled = new ProfilingDevice(Device.Cpu);
        Assert.Equal(Device.Cpu.Name, profiled.Name);
        Assert.Equal(Precision.Fp32, profiled.Precision);
        Assert.True(profiled.SharesMemoryWith(Device.Cpu));
        var bf16 = profiled.WithPrecision(Precision.Bf16);
        Assert.Same(profiled, profiled.WithPrecision(Precision.Fp32));
        Assert.Equal(Precision.Bf16, bf16.Precision);
        Assert.Equal(DType.BFloat16, bf16.ActivationType);
        Assert.Same(profiled.Profile, Assert.IsType<ProfilingDevice>(bf16).Profile); // one profile for both precisions
        Assert.True(bf16.SharesMemoryWith(profiled));
        Assert.Throws<BertSharpException>(() => profiled.WithPrecision(Precision.Tf32)); // the CPU's refusal, passed on

        using var t = profiled.Allocate(DType.Float32, 3);
        Assert.Same(Device.Cpu, t.Device); // the memory is the inner device's
        Assert.True(profiled.TryGetHostMemory(t, out var memory));
        Assert.Equal(3, memory.Length);
        profiled.Dispose(); // borrows the device: the CPU device still works
        Device.Cpu.Zero(t);
    }

    [Fact]
    public void Calls_without_a_part_go_with_the_placed_call_before_them_forward_and_after_them_backward()
    {
        var profiled = new ProfilingDevice(Device.Cpu);
        using var weight = profiled.Allocate(DType.Float32, 4);
        using var activation = profiled.Allocate(DType.Float32, 4);
        var profile = profiled.Profile;
        Assert.Equal(["Allocate", "Allocate"], profile.Calls.Select(c => c.Kernel)); // timed too
        profile.Clear();
        profile.PartOf = (_, v) => ReferenceEquals(v.Tensor, weight) ? $"layer {v.Offset / 2}" : null;
        profile.Enter("forward");
        profiled.Zero(activation);                 // before any placed call: the first one after it
        profiled.Add(activation, weight);                               // placed: layer 0
        profiled.Gelu(activation, activation, false);
        profiled.Add(activation.View(2, 2), weight.View(2, 2));         // placed: layer 1
        profiled.Tanh(activation, activation);
        profile.Enter("backward", backward: true);
        profiled.TanhBackward(activation, activation, activation);
        profiled.Add(weight.View(2, 2), activation.View(0, 2));         // placed: layer 1
        profiled.GeluBackward(activation, activation, activation, false);
        profiled.Add(weight.View(0, 2), activation.View(0, 2));         // placed: layer 0
        profiled.Zero(activation);                 // after the last placed call: the one before it
        profile.Enter("optimizer");
        profiled.Zero(activation);                 // a section with no placed call

        Assert.Equal(
            ["forward Zero layer 0", "forward Add layer 0", "forward Gelu layer 0", "forward Add layer 1", "forward Tanh layer 1",
             "backward TanhBackward layer 1", "backward Add layer 1", "backward GeluBackward layer 0", "backward Add layer 0", "backward Zero layer 0",
             "optimizer Zero other"],
            profile.Attributed().Select(c => $"{c.Section} {c.Kernel} {c.Part}"));
        Assert.Null(profile.Calls[0].Part); // as recorded
        var sums = DeviceProfile.Sum(profile.Attributed(), c => c.Section);
        Assert.Equal(["forward", "backward", "optimizer"], sums.Select(s => s.Key));
        Assert.Equal(profile.Calls.Sum(c => c.Seconds), sums.Sum(s => s.Seconds), 12);
        profile.Clear();
        Assert.Empty(profile.Calls);
    }
}
