namespace BertSharp.Text;

/// <summary>Layouts of a corpus on disk that <see cref="CorpusReader.Open"/> reads.</summary>
public enum CorpusFormat
{
    /// <summary>Chosen from the path: an IMDB archive or folder, a .jsonl file, a folder of .txt files, or a text file.</summary>
    Auto,
    /// <summary>aclImdb_v1.tar.gz (read straight from the compressed stream) or an extracted aclImdb folder.</summary>
    Imdb,
    /// <summary>A folder of .txt files (searched recursively), one document per file, blank lines between paragraphs.</summary>
    TextFolder,
    /// <summary>One text file, one sentence (or paragraph) per line, documents separated by blank lines
    /// (Google's create_pretraining_data.py input).</summary>
    TextFile,
    /// <summary>JSON Lines, one document per line in a string field "text".</summary>
    JsonLines,
}
