using System.Runtime.InteropServices;

namespace BertSharp.Text;

[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct DocumentRecord
{
    public long FirstSentence;
    public short Split;
    public sbyte Label;
    public byte Rating;
    public int Reserved;
}
