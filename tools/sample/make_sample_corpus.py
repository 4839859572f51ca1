#!/usr/bin/env python3
"""Generates BertSharp's bundled sample corpus: synthetic, review-like documents.

Every word comes from the small grammar below (nothing is copied from real reviews). The documents
have the structure the two pretraining tasks need to learn something in a few minutes:
- MLM: slots are correlated (a review's sentiment picks its adjectives, verdict and rating; its genre
  picks its plot words; names recur within a review), so a masked word is predictable from context.
- NSP: each review walks through the same sections in order (opening, plot, acting, craft, verdict),
  and later sentences refer back to the film's title and cast, so a true next sentence is
  distinguishable from a random one.

Output: Google's create_pretraining_data.py format (one sentence per line, a blank line between
documents). Deterministic: the same seed gives the same bytes.

    /usr/bin/python3 tools/sample/make_sample_corpus.py --out src/BertSharp/Text/Sample/reviews.txt
"""
import argparse
import random

FIRST = ["anna", "marco", "lena", "david", "sofia", "omar", "julia", "felix", "nora", "victor",
         "ruth", "tomas", "iris", "hugo", "mila", "oscar", "clara", "ivan", "elsa", "pablo"]
LAST = ["berg", "costa", "hale", "novak", "reyes", "stone", "weber", "moreau", "lind", "okafor",
        "park", "quinn", "rossi", "vance", "young", "dumas", "frost", "keller", "marsh", "silva"]
TITLE_A = ["silent", "broken", "last", "golden", "hidden", "red", "long", "cold", "burning", "lost",
           "distant", "endless", "crimson", "quiet", "wild"]
TITLE_B = ["river", "harbor", "winter", "signal", "garden", "empire", "road", "shadow", "letter",
           "mirror", "island", "machine", "summer", "tower", "storm"]

GENRES = {
    "horror": dict(place=["an old farmhouse", "a remote cabin", "an abandoned hospital", "a foggy village"],
                   event=["strange noises start at night", "a door opens by itself", "the dead return",
                          "something waits in the cellar"],
                   noun="horror film", mood=["creepy", "tense", "eerie"]),
    "comedy": dict(place=["a small bakery", "a chaotic wedding", "a failing radio station", "a summer camp"],
                   event=["every plan goes wrong", "two rivals must share a kitchen",
                          "a lie grows out of control", "the family comes to visit"],
                   noun="comedy", mood=["silly", "playful", "lighthearted"]),
    "drama": dict(place=["a mining town", "a crowded city hospital", "a fishing village", "a boarding school"],
                  event=["a family secret comes out", "a father loses his job", "two sisters stop speaking",
                         "a teacher fights for a student"],
                  noun="drama", mood=["moving", "quiet", "serious"]),
    "action": dict(place=["a busy harbor", "a mountain base", "a speeding train", "a city at night"],
                   event=["a heist goes wrong", "an agent is betrayed", "a bomb is hidden downtown",
                          "a convoy is attacked"],
                   noun="action movie", mood=["loud", "fast", "explosive"]),
    "scifi": dict(place=["a space station", "a colony on mars", "a city in the future", "a research ship"],
                  event=["the computer stops answering", "a signal arrives from deep space",
                         "the crew wakes up too early", "time starts to loop"],
                  noun="science fiction film", mood=["strange", "ambitious", "cerebral"]),
    "romance": dict(place=["a seaside town", "a bookshop in paris", "a vineyard", "a snowy ski resort"],
                    event=["two strangers keep meeting", "an old letter is found", "a wedding is called off",
                           "a summer love returns"],
                    noun="romance", mood=["sweet", "tender", "warm"]),
}

POS = dict(adj=["wonderful", "brilliant", "superb", "delightful", "excellent", "gripping"],
           act=["gives a stunning performance", "is completely convincing", "steals every scene",
                "brings real warmth to the role"],
           craft=["the camera work is beautiful", "the music fits every scene", "the script is sharp and clever",
                  "the pacing never drags"],
           verdict=["i loved every minute of it", "highly recommended", "a must see", "i will watch it again"],
           rating=["nine", "ten", "eight"], feel=["happy", "moved", "thrilled"])
NEG = dict(adj=["terrible", "boring", "awful", "dull", "weak", "clumsy"],
           act=["looks lost in every scene", "delivers every line flatly", "seems bored throughout",
                "cannot save the weak script"],
           craft=["the camera work is shaky and cheap", "the music is loud and annoying",
                  "the script is full of holes", "the pacing is painfully slow"],
           verdict=["avoid this one", "a complete waste of time", "i want those two hours back",
                    "do not bother"],
           rating=["one", "two", "three"], feel=["bored", "annoyed", "disappointed"])


def a(word):
    """English indefinite article for a word (all our words are regular)."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def review(rng):
    genre = rng.choice(sorted(GENRES))
    g = GENRES[genre]
    s = POS if rng.random() < 0.5 else NEG
    title = f"the {rng.choice(TITLE_A)} {rng.choice(TITLE_B)}"
    lead = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    second = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    director = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    year = rng.randint(1970, 2024)
    adj = rng.choice(s["adj"])
    out = []
    out.append(rng.choice([
        f"i watched {title} last night and it was {adj}.",
        f"{title} is {a(adj)} {g['noun']} from {year}.",
        f"i finally saw {title}, the {g['noun']} directed by {director}.",
    ]))
    out.append(f"the story is set in {rng.choice(g['place'])}, where {rng.choice(g['event'])}.")
    if rng.random() < 0.7:
        out.append(f"it has {a(rng.choice(g['mood']))} tone from the very first scene.")
    out.append(f"{lead} plays the lead and {rng.choice(s['act'])}.")
    if rng.random() < 0.6:
        out.append(f"{second} also {rng.choice(s['act'])}.")
    out.append(f"as for the rest, {rng.choice(s['craft'])}.")
    if rng.random() < 0.5:
        out.append(f"{director} clearly wanted to make {a(rng.choice(g['mood']))} {g['noun']}.")
    out.append(f"by the end i felt {rng.choice(s['feel'])}.")
    out.append(f"{rng.choice(s['verdict'])}, {rng.choice(s['rating'])} out of ten.")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--documents", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for i in range(a.documents):
            if i:
                f.write("\n")
            for sentence in review(rng):
                f.write(sentence + "\n")


if __name__ == "__main__":
    main()
