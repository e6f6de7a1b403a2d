//! Numbers that Rust and WGSL must agree on (the operator a `switch` picks, a mode): each
//! set is one Rust enum, and the WGSL constants are generated from it and prepended to the
//! shader, so the two cannot drift.

/// Defines an enum whose variants are numbered 0, 1, … in order, with `code()` (the
/// number the kernel receives) and `wgsl_consts()` (`const PREFIX_NAME: u32 = N;` lines
/// for the shader, one per variant).
macro_rules! wgsl_codes {
    (
        $(#[$meta:meta])*
        pub(super) enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $wgsl:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub(super) enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every variant, in the order of their numbers.
            #[allow(dead_code)] // read by the tests
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The number the kernel receives.
            pub fn code(self) -> u32 {
                self as u32
            }

            /// The name of the WGSL constant that holds [`Self::code`].
            pub fn wgsl_name(self) -> &'static str {
                match self {
                    $($name::$variant => $wgsl,)*
                }
            }

            /// `const NAME: u32 = N;` for every variant, for the shader.
            pub fn wgsl_consts() -> String {
                Self::ALL
                    .iter()
                    .map(|v| format!("const {}: u32 = {}u;\n", v.wgsl_name(), v.code()))
                    .collect()
            }
        }
    };
}

pub(super) use wgsl_codes;

/// Asserts that `source` (a kernel's WGSL) names every constant of the enum and holds no
/// bare number where it compares against them (`case 3u:`, `mode == 1u`).
#[cfg(test)]
pub(super) fn assert_uses_names(source: &str, names: &[&str], pattern: &str) {
    for name in names {
        assert!(source.contains(name), "the shader never reads {name}");
    }
    for n in 0..10 {
        let bare = pattern.replace('N', &format!("{n}u"));
        assert!(
            !source.contains(&bare),
            "the shader compares with a bare number: '{bare}'"
        );
    }
}
