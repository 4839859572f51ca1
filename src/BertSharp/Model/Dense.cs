using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>A fully connected layer y = x·Wᵀ + b with W stored [out, in] as PyTorch's nn.Linear.</summary>
internal static class Dense
{
    /// <summary>x [rows, nIn] → y [rows, nOut].</summary>
    public static void Forward(Device d, TensorView x, int rows, int nIn, int nOut, TensorView w, TensorView b, TensorView y)
    {
        d.Sgemm(false, true, rows, nOut, nIn, 1f, x, nIn, w, nIn, 0f, y, nOut);
        d.BiasAdd(y, rows, nOut, b);
    }

    /// <summary>dW += dyᵀ·x, db += Σ dy; dx = dy·W (or dx += when <paramref name="accumulateDx"/>); dx skipped when empty.</summary>
    public static void Backward(Device d, TensorView dy, TensorView x, int rows, int nIn, int nOut,
        TensorView w, TensorView dw, TensorView db, TensorView dx, bool accumulateDx)
    {
        d.BiasBackward(dy, rows, nOut, db);
        d.Sgemm(true, false, nOut, nIn, rows, 1f, dy, nOut, x, nIn, 1f, dw, nIn);
        if (dx.Tensor is not null) d.Sgemm(false, false, rows, nIn, nOut, 1f, dy, nOut, w, nIn, accumulateDx ? 1f : 0f, dx, nIn);
    }
}
