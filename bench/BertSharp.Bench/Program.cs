using System.Reflection;
using BertSharp.Bench;

// Benchmarks: `dotnet run -c Release --project bench/BertSharp.Bench -- <suite> [options]` (see bench/run.sh).
// Each suite is a class implementing IBenchSuite in Suites/; they are found by reflection.
var suites = Assembly.GetExecutingAssembly().GetTypes()
    .Where(t => typeof(IBenchSuite).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
    .Select(t => (IBenchSuite)Activator.CreateInstance(t)!)
    .OrderBy(s => s.Name)
    .ToList();
if (args.Length == 0 || suites.All(s => s.Name != args[0]))
{
    Console.Error.WriteLine("usage: BertSharp.Bench <suite> [options]; suites:");
    foreach (var s in suites) Console.Error.WriteLine($"  {s.Name,-12} {s.Description}");
    return 2;
}
return suites.First(s => s.Name == args[0]).Run(args[1..]);
