//! Search quality on the Chinook catalog: hand-written queries, each with the item a user
//! expects on top. Prints the rank found for each (a Markdown table, as in docs/search.md)
//! and the top-1 and top-5 shares; asserts top-5 >= 90%.

mod common;

use riff_search::{fold, Index, Kind, Query};

/// (query, kind searched, expected name, expected artist when the name is ambiguous)
const CASES: &[(&str, Kind, &str, Option<&str>)] = &[
    // exact names
    ("metallica", Kind::Artist, "Metallica", None),
    ("iron maiden", Kind::Artist, "Iron Maiden", None),
    ("guns n roses", Kind::Artist, "Guns N' Roses", None),
    ("acdc", Kind::Artist, "AC/DC", None),
    ("stairway to heaven", Kind::Track, "Stairway To Heaven", Some("Led Zeppelin")),
    ("enter sandman", Kind::Track, "Enter Sandman", Some("Metallica")),
    ("smoke on the water", Kind::Track, "Smoke On The Water", Some("Deep Purple")),
    ("bohemian rhapsody", Kind::Track, "Bohemian Rhapsody", Some("Queen")),
    ("master of puppets", Kind::Album, "Master Of Puppets", Some("Metallica")),
    ("appetite for destruction", Kind::Album, "Appetite for Destruction", None),
    ("black album", Kind::Album, "Black Album", Some("Metallica")),
    ("rehab", Kind::Track, "Rehab", Some("Amy Winehouse")),
    // case and diacritics
    ("titas", Kind::Artist, "Titãs", None),
    ("ANTONIO CARLOS JOBIM", Kind::Artist, "Antônio Carlos Jobim", None),
    ("cassia eller", Kind::Artist, "Cássia Eller", None),
    // one typo
    ("metalica", Kind::Artist, "Metallica", None),
    ("iron maidn", Kind::Artist, "Iron Maiden", None),
    ("led zepplin", Kind::Artist, "Led Zeppelin", None),
    ("smashing pumkins", Kind::Artist, "Smashing Pumpkins", None),
    ("bohemian rapsody", Kind::Track, "Bohemian Rhapsody", Some("Queen")),
    ("califronication", Kind::Track, "Californication", Some("Red Hot Chili Peppers")),
    ("swete child o mine", Kind::Track, "Sweet Child O' Mine", None),
    ("losing my religon", Kind::Track, "Losing My Religion", None),
    // two typos (in one long word, or one in each of two words)
    ("jamirokwai", Kind::Artist, "Jamiroquai", None),
    ("apocaliptika", Kind::Artist, "Apocalyptica", None),
    ("creedance clearwatter", Kind::Artist, "Creedence Clearwater Revival", None),
    ("red hot chilli pepers", Kind::Artist, "Red Hot Chili Peppers", None),
    ("stairwya to haeven", Kind::Track, "Stairway To Heaven", Some("Led Zeppelin")),
    // prefixes, as typed
    ("led zep", Kind::Artist, "Led Zeppelin", None),
    ("red hot chili pep", Kind::Artist, "Red Hot Chili Peppers", None),
    ("amy wine", Kind::Artist, "Amy Winehouse", None),
    ("smells like tee", Kind::Track, "Smells Like Teen Spirit", Some("Nirvana")),
    ("hallowed be", Kind::Track, "Hallowed Be Thy Name", Some("Iron Maiden")),
    ("garota de ipa", Kind::Track, "Garota De Ipanema", None),
    ("whole lotta ro", Kind::Track, "Whole Lotta Rosie", None),
    ("purple ha", Kind::Track, "Purple Haze", None),
    ("californi", Kind::Album, "Californication", None),
    ("halowed be th", Kind::Track, "Hallowed Be Thy Name", Some("Iron Maiden")),
    // filters
    ("artist:\"AC/DC\" rosie", Kind::Track, "Whole Lotta Rosie", None),
    ("war pigs artist:ozzy", Kind::Track, "War Pigs", Some("Ozzy Osbourne")),
    ("track:\"war pigs\" artist:cake", Kind::Track, "War Pigs", Some("Cake")),
    ("album:\"master of puppets\" orion", Kind::Track, "Orion", None),
    ("paranoid album:tribute", Kind::Track, "Paranoid", Some("Ozzy Osbourne")),
    ("enter sandman artist:apocalyptica", Kind::Track, "Enter Sandman", Some("Apocalyptica")),
    ("ipanema genre:\"easy listening\"", Kind::Track, "The Girl From Ipanema", None),
    ("iv artist:zeppelin genre:rock", Kind::Album, "IV", Some("Led Zeppelin")),
    // multi-word titles
    ("sunday bloody sunday", Kind::Track, "Sunday Bloody Sunday", Some("U2")),
    ("are you gonna go my way", Kind::Track, "Are You Gonna Go My Way", None),
    ("with or without you", Kind::Track, "With Or Without You", None),
    ("come as you are", Kind::Track, "Come As You Are", Some("Nirvana")),
    ("under the bridge", Kind::Track, "Under The Bridge", None),
    ("back to black", Kind::Album, "Back to Black", None),
    ("chico science nacao zumbi", Kind::Artist, "Chico Science & Nação Zumbi", None),
];

#[test]
fn chinook_quality() {
    let Some(docs) = common::chinook() else { return };
    let index: Index = docs.into_iter().collect();
    let (mut top1, mut top5) = (0, 0);
    println!("| query | kind | expected | rank | first hit, when not the expected |\n| --- | --- | --- | --- | --- |");
    for &(text, kind, name, artist) in CASES {
        let query = Query::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let hits = index.search(&query, &[kind], 10, 0).remove(0);
        let rank = hits.ids.iter().position(|id| {
            let doc = index.get(kind, id).expect("hit exists");
            fold(&doc.name) == fold(name) && artist.is_none_or(|a| doc.artist == a)
        });
        top1 += usize::from(rank == Some(0));
        top5 += usize::from(rank.is_some_and(|r| r < 5));
        let expected = match artist {
            Some(a) => format!("{name} ({a})"),
            None => name.to_string(),
        };
        let first = match rank {
            Some(0) => String::new(),
            _ => hits
                .ids
                .first()
                .and_then(|id| index.get(kind, id))
                .map_or("-".into(), |d| format!("{} ({})", d.name, d.artist)),
        };
        let rank = rank.map_or("not in top 10".to_string(), |r| (r + 1).to_string());
        println!("| `{text}` | {kind:?} | {expected} | {rank} | {first} |");
    }
    let n = CASES.len() as f64;
    let (s1, s5) = (top1 as f64 / n * 100.0, top5 as f64 / n * 100.0);
    println!("{} queries: top-1 {top1} ({s1:.1}%), top-5 {top5} ({s5:.1}%)", CASES.len());
    assert!(CASES.len() >= 30);
    assert!(s5 >= 90.0, "top-5 share {s5:.1}% is below 90%");
}
