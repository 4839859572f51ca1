// Benchmarks: `dotnet run -c Release --project bench/BertSharp.Bench -- <suite>`; see bench/run.sh.
Console.Error.WriteLine("usage: BertSharp.Bench <suite>");
return 2;
