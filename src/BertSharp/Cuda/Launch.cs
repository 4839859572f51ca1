namespace BertSharp.Cuda;

/// <summary>A kernel launch's grid and block (x, y only: our kernels need no z).</summary>
/// <param name="GridX">Blocks along x.</param>
/// <param name="GridY">Blocks along y.</param>
/// <param name="BlockX">Threads per block along x.</param>
/// <param name="BlockY">Threads per block along y.</param>
public readonly record struct Launch(uint GridX, uint GridY, uint BlockX, uint BlockY)
{
    /// <summary>True when there is nothing to launch (a zero-size grid).</summary>
    public bool IsEmpty => GridX == 0 || GridY == 0;
}
