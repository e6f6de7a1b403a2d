//! Every string of the participant's page that is not one of the experiment's own pages:
//! buttons, labels, messages, the trial screen's prompt and headings, the saving and error
//! pages. Each is a [`T`] with English and German defaults; an experiment picks the
//! defaults by its `language` and replaces any of them in `texts` (by [`T::key`]).
//! Placeholders in braces (`{n}`) are filled by the page ([`fill`]).

/// A language exemplar ships every default text in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shipped {
    /// English (the default for any language without shipped texts).
    En,
    /// German.
    De,
}

impl Shipped {
    /// The shipped language of a BCP 47 tag (`de`, `de-AT` → German); English otherwise.
    pub fn of(tag: &str) -> Shipped {
        match primary(tag).as_str() {
            "de" => Shipped::De,
            _ => Shipped::En,
        }
    }
}

/// The lower-case primary subtag of a language tag (`pt-BR` → `pt`).
fn primary(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The writing direction of a language tag: `rtl` for the right-to-left scripts' languages
/// (Arabic, Hebrew, Persian, Urdu, Pashto, Sindhi, Uyghur, Yiddish, Dhivehi, Sorani),
/// `ltr` otherwise.
pub fn direction(tag: &str) -> &'static str {
    const RTL: [&str; 10] = ["ar", "he", "fa", "ur", "ps", "sd", "ug", "yi", "dv", "ckb"];
    if RTL.contains(&primary(tag).as_str()) {
        "rtl"
    } else {
        "ltr"
    }
}

/// Whether `tag` has the shape of a BCP 47 language tag: a primary subtag of 2 or 3
/// letters, then subtags of 1 to 8 letters or digits, separated by `-`.
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first = parts.next().unwrap_or("");
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

macro_rules! texts {
    ($( $(#[doc = $doc:literal])* $variant:ident = $key:literal { en: $en:expr, de: $de:expr $(,)? } )*) => {
        /// A text of the participant's page.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum T {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl T {
            /// Every text, in the order of this file.
            pub const ALL: &'static [T] = &[$(T::$variant),*];

            /// Its key in `experiment.json`'s `texts`.
            pub fn key(self) -> &'static str {
                match self { $(T::$variant => $key,)* }
            }

            /// Its default in a shipped language.
            pub fn default_in(self, language: Shipped) -> &'static str {
                match (self, language) {
                    $( (T::$variant, Shipped::En) => $en, (T::$variant, Shipped::De) => $de, )*
                }
            }

            /// What it is (for the documentation and the JSON Schema).
            pub fn about(self) -> &'static str {
                match self { $(T::$variant => concat!($($doc),*).trim_ascii(),)* }
            }
        }
    };
}

texts! {
    /// The page shown while the study loads (before its language is known, in the browser's).
    LoadingStudy = "loading_study" { en: "Loading the study…", de: "Die Studie wird geladen…" }
    /// Shown while a trial's images load.
    Loading = "loading" { en: "Loading…", de: "Wird geladen…" }
    /// The welcome page's button.
    Continue = "continue" { en: "Continue", de: "Weiter" }
    /// The consent page's button.
    Agree = "agree" { en: "I agree", de: "Ich stimme zu" }
    /// The fullscreen page (Markdown), shown before the practice trials.
    FullscreenPage = "fullscreen_page" {
        en: "## Fullscreen\n\nThe study runs in fullscreen mode. Please stay in fullscreen until the end.",
        de: "## Vollbild\n\nDie Studie läuft im Vollbildmodus. Bitte bleiben Sie bis zum Ende im Vollbild.",
    }
    /// The fullscreen page's button.
    FullscreenButton = "fullscreen_button" {
        en: "Switch to fullscreen and continue",
        de: "Zum Vollbild wechseln und weiter",
    }
    /// The button that starts the practice or the main block.
    Start = "start" { en: "Start", de: "Starten" }
    /// The instruction pages' button to the next page.
    Next = "next" { en: "Next", de: "Weiter" }
    /// The instruction pages' button to the page before.
    Back = "back" { en: "Back", de: "Zurück" }
    /// Above each instruction page; `{page}` of `{pages}`.
    InstructionsCount = "instructions_count" {
        en: "Instructions {page} of {pages}",
        de: "Anleitung {page} von {pages}",
    }
    /// The feedback page's button.
    Submit = "submit" { en: "Submit", de: "Absenden" }
    /// Over a trial when the window is smaller than `display.min_width` × `min_height`.
    WindowTooSmall = "window_too_small" {
        en: "Please make your browser window larger (at least {width}×{height} pixels) to continue.",
        de: "Bitte vergrößern Sie Ihr Browserfenster (mindestens {width}×{height} Pixel), um fortzufahren.",
    }
    /// The count of correct answers above main trials (followed by the number).
    CorrectAnswers = "correct_answers" { en: "Correct Answers: ", de: "Richtige Antworten: " }
    /// The progress bar's label; `{task}` of `{tasks}`.
    TaskCount = "task_count" { en: "Task {task} of {tasks}", de: "Aufgabe {task} von {tasks}" }
    /// The question above each trial.
    Prompt = "prompt" {
        en: "Which image at the center matches the Right Examples better?",
        de: "Welches Bild in der Mitte passt besser zu den rechten Beispielen?",
    }
    /// The heading over the minimally activating references.
    LeftExamples = "left_examples" { en: "Left Examples", de: "Linke Beispiele" }
    /// The heading over the maximally activating references.
    RightExamples = "right_examples" { en: "Right Examples", de: "Rechte Beispiele" }
    /// The description (alt text) of the left references; `{n}` counts from 1.
    LeftExample = "left_example" { en: "Left example {n}", de: "Linkes Beispiel {n}" }
    /// The description (alt text) of the right references.
    RightExample = "right_example" { en: "Right example {n}", de: "Rechtes Beispiel {n}" }
    /// The description of the upper query image.
    UpperImage = "upper_image" { en: "Upper center image", de: "Oberes Bild in der Mitte" }
    /// The description of the lower query image.
    LowerImage = "lower_image" { en: "Lower center image", de: "Unteres Bild in der Mitte" }
    /// The label of the upper row of answer buttons.
    ChooseUpper = "choose_upper" { en: "Choose the upper image", de: "Das obere Bild wählen" }
    /// The label of the lower row of answer buttons.
    ChooseLower = "choose_lower" { en: "Choose the lower image", de: "Das untere Bild wählen" }
    /// The label of an upper answer button; `{level}` of `{levels}`.
    UpperConfidence = "upper_confidence" {
        en: "Upper image, confidence {level} of {levels}",
        de: "Oberes Bild, Sicherheit {level} von {levels}",
    }
    /// The label of a lower answer button.
    LowerConfidence = "lower_confidence" {
        en: "Lower image, confidence {level} of {levels}",
        de: "Unteres Bild, Sicherheit {level} von {levels}",
    }
    /// Beside each row of answer buttons.
    MoreConfident = "more_confident" { en: "More Confident →", de: "Sicherer →" }
    /// The verdict on a correct answer.
    Correct = "correct" { en: "Correct!", de: "Richtig!" }
    /// The verdict on a wrong answer.
    Incorrect = "incorrect" { en: "Incorrect!", de: "Falsch!" }
    /// The heading when the study changed under a running session.
    PlanChangedTitle = "plan_changed_title" { en: "This study was changed", de: "Diese Studie wurde geändert" }
    /// The text when the study changed under a running session.
    PlanChangedText = "plan_changed_text" {
        en: "The researcher changed this study while you were taking part, so it cannot continue where you left off. Please contact the researcher.",
        de: "Die Studie wurde geändert, während Sie teilgenommen haben, und kann daher nicht an dieser Stelle fortgesetzt werden. Bitte wenden Sie sich an die Studienleitung.",
    }
    /// Once every answer is saved.
    SavedSoFar = "saved_so_far" { en: "Your answers so far are saved.", de: "Ihre bisherigen Antworten sind gespeichert." }
    /// While answers are still being saved; `{n}` left.
    SavingSoFar = "saving_so_far" {
        en: "Saving your answers so far… ({n} left). Please keep this page open.",
        de: "Ihre bisherigen Antworten werden gespeichert… (noch {n}). Bitte lassen Sie diese Seite geöffnet.",
    }
    /// The button that downloads the participant's data file.
    DownloadData = "download_data" { en: "Download your data file", de: "Datendatei herunterladen" }
    /// When the browser cannot store the session (storage full or disabled).
    StorageFailed = "storage_failed" {
        en: "This browser cannot save your progress (its storage is full or disabled). Your answers are kept on this page and sent as usual, but please do not reload or close this tab before the end. To be safe, you can download your data file and send it to the researcher.",
        de: "Dieser Browser kann Ihren Fortschritt nicht speichern (sein Speicher ist voll oder deaktiviert). Ihre Antworten bleiben auf dieser Seite und werden wie gewohnt gesendet; bitte laden Sie diesen Tab aber nicht neu und schließen Sie ihn nicht vor dem Ende. Zur Sicherheit können Sie Ihre Datendatei herunterladen und an die Studienleitung senden.",
    }
    /// While records wait for an unreachable server; `{reason}` is technical.
    DeliveryWaiting = "delivery_waiting" {
        en: "Your latest answers are kept in this browser and will be sent when possible ({reason}).",
        de: "Ihre letzten Antworten bleiben in diesem Browser und werden gesendet, sobald es möglich ist ({reason}).",
    }
    /// The heading when saved progress does not fit the study.
    CannotContinueTitle = "cannot_continue_title" { en: "This study cannot continue", de: "Diese Studie kann nicht fortgesetzt werden" }
    /// The text when saved progress does not fit the study.
    CannotContinueText = "cannot_continue_text" {
        en: "The saved progress does not match this study. Please contact the researcher.",
        de: "Der gespeicherte Fortschritt passt nicht zu dieser Studie. Bitte wenden Sie sich an die Studienleitung.",
    }
    /// The end page while records are sent; `{n}` left.
    SavingResponses = "saving_responses" { en: "Saving your responses… ({n} left)", de: "Ihre Antworten werden gespeichert… (noch {n})" }
    /// Below it.
    KeepOpen = "keep_open" { en: "Please keep this page open.", de: "Bitte lassen Sie diese Seite geöffnet." }
    /// The end page while the server fails; `{reason}` is technical.
    NotSavedYet = "not_saved_yet" { en: "Not saved yet: {reason}. Retrying…", de: "Noch nicht gespeichert: {reason}. Neuer Versuch…" }
    /// The end page when the server has been unreachable for `delivery.download_after_ms`.
    Unreachable = "unreachable" {
        en: "The server cannot be reached right now. We keep trying while this page is open. To be safe, please download your data file and send it to the researcher.",
        de: "Der Server ist gerade nicht erreichbar. Wir versuchen es weiter, solange diese Seite geöffnet ist. Zur Sicherheit laden Sie bitte Ihre Datendatei herunter und senden Sie sie an die Studienleitung.",
    }
    /// Before the completion code on the end page.
    CompletionCode = "completion_code" { en: "Your completion code: ", de: "Ihr Abschlusscode: " }
    /// When the server refused records; `{reason}` is the server's.
    Refused = "refused" {
        en: "Some responses were refused by the server ({reason}).",
        de: "Einige Antworten wurden vom Server abgelehnt ({reason}).",
    }
    /// When MTurk's return address in the link was refused.
    NotReturned = "not_returned" {
        en: "Your responses are saved, but we cannot send you back to MTurk automatically: the return address in the link to this study is not MTurk's.",
        de: "Ihre Antworten sind gespeichert, aber wir können Sie nicht automatisch zu MTurk zurückschicken: Die Rücksprungadresse im Link zu dieser Studie ist nicht die von MTurk.",
    }
    /// Above the download button when records could not be delivered.
    PleaseDownload = "please_download" {
        en: "Please download your data file and send it to the researcher, who will tell you how.",
        de: "Bitte laden Sie Ihre Datendatei herunter und senden Sie sie an die Studienleitung, die Ihnen sagt, wie.",
    }
    /// MTurk's preview of the HIT (below the welcome page).
    MturkPreview = "mturk_preview" {
        en: "This is a preview. Please accept the HIT to start.",
        de: "Dies ist eine Vorschau. Bitte nehmen Sie den HIT an, um zu beginnen.",
    }
    /// The heading when the study is open in another tab.
    AlreadyOpenTitle = "already_open_title" { en: "This study is already open", de: "Diese Studie ist bereits geöffnet" }
    /// The text when the study is open in another tab.
    AlreadyOpenText = "already_open_text" {
        en: "You have this study open in another tab or window of this browser. Please continue there and close this tab; your answers so far are kept.",
        de: "Sie haben diese Studie in einem anderen Tab oder Fenster dieses Browsers geöffnet. Bitte machen Sie dort weiter und schließen Sie diesen Tab; Ihre bisherigen Antworten bleiben erhalten.",
    }
    /// The button that takes the session over from another tab.
    AlreadyOpenRetry = "already_open_retry" {
        en: "I closed the other tab: continue here",
        de: "Ich habe den anderen Tab geschlossen: hier weitermachen",
    }
    /// The heading when the study cannot start (in the browser's language: the experiment
    /// may not have loaded).
    CannotStartTitle = "cannot_start_title" { en: "This study cannot start", de: "Diese Studie kann nicht beginnen" }
    /// Below it, when a link's `?condition=` names no group of the experiment's design.
    UnknownCondition = "unknown_condition" {
        en: "This link names a part of the study ({condition}) that does not exist. Please ask for a working link.",
        de: "Dieser Link nennt einen Teil der Studie ({condition}), den es nicht gibt. Bitte fragen Sie nach einem funktionierenden Link.",
    }
    /// The hint below it.
    CannotStartHint = "cannot_start_hint" {
        en: "If you are a participant, please contact the researcher. If you are the researcher, run `exemplar validate` on the experiment folder.",
        de: "Wenn Sie an der Studie teilnehmen, wenden Sie sich bitte an die Studienleitung. Wenn Sie die Studie leiten, prüfen Sie den Experimentordner mit `exemplar validate`.",
    }
}

/// `template` with each `{name}` of `values` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The `{name}` placeholders of a text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end)
                if after[..end]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
                    && end > 0 =>
            {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// The text of `key`, if it is one.
pub fn by_key(key: &str) -> Option<T> {
    T::ALL.iter().copied().find(|t| t.key() == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_both_languages_with_the_same_placeholders() {
        let mut keys = std::collections::BTreeSet::new();
        for t in T::ALL {
            assert!(keys.insert(t.key()), "{} twice", t.key());
            let (en, de) = (t.default_in(Shipped::En), t.default_in(Shipped::De));
            assert!(
                !en.is_empty() && !de.is_empty() && !t.about().is_empty(),
                "{}",
                t.key()
            );
            assert_ne!(en, de, "{} is not translated", t.key());
            let (mut a, mut b) = (placeholders(en), placeholders(de));
            a.sort();
            b.sort();
            assert_eq!(a, b, "{}", t.key());
            assert_eq!(by_key(t.key()), Some(*t));
        }
    }

    #[test]
    fn language_tags() {
        assert_eq!(Shipped::of("de"), Shipped::De);
        assert_eq!(Shipped::of("de-AT"), Shipped::De);
        assert_eq!(Shipped::of("DE"), Shipped::De);
        assert_eq!(Shipped::of("en-GB"), Shipped::En);
        assert_eq!(Shipped::of("fr"), Shipped::En);
        assert_eq!(direction("he"), "rtl");
        assert_eq!(direction("ar-EG"), "rtl");
        assert_eq!(direction("de"), "ltr");
        for ok in ["en", "de-AT", "zh-Hant-TW", "ckb", "es-419"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "e", "english", "de_AT", "de-", "de-toolongsubtag", "d3"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let t = T::TaskCount.default_in(Shipped::De);
        assert_eq!(placeholders(t), ["task", "tasks"]);
        assert_eq!(
            fill(t, &[("task", "3"), ("tasks", "12")]),
            "Aufgabe 3 von 12"
        );
        assert_eq!(placeholders("a {b} {C} {} {x_y"), ["b"]);
    }
}
