//! Closed vocabularies written as text on the wire and in the database. Each is an enum whose
//! variants carry their text once, here; everything else compares enums, never strings.

/// Declares an enum of named values with its text mapping: `as_str`, `parse`, `ALL`, `Display`,
/// `FromStr` and serde in the same spelling. Add `#[derive(utoipa::ToSchema)]` where the enum is
/// part of the HTTP API. The text is taken as a plain token (`tt`, not `literal`): utoipa reads
/// `#[serde(rename)]` only from a bare string literal, and a `literal` fragment reaches derives
/// wrapped in an invisible group.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:tt,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        $vis enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(value: &str) -> Option<$name> {
                match value {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every value's text, for messages that list what is accepted.
            pub fn names() -> String {
                [$($text),+].join(", ")
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::vocab::UnknownValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                $name::parse(value).ok_or_else(|| $crate::vocab::UnknownValue {
                    vocabulary: stringify!($name),
                    value: value.to_owned(),
                })
            }
        }
    };
}

/// A text that names no value of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub vocabulary: &'static str,
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a known {}", self.value, self.vocabulary)
    }
}

impl std::error::Error for UnknownValue {}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        enum Colour {
            Red = "red",
            DeepBlue = "deep-blue",
        }
    }

    #[test]
    fn text_round_trips_through_every_form() {
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(*colour));
            assert_eq!(colour.to_string().parse::<Colour>().ok(), Some(*colour));
            let json = serde_json::to_string(colour).unwrap();
            assert_eq!(json, format!("\"{}\"", colour.as_str()));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), *colour);
        }
        assert_eq!(Colour::parse("Red"), None);
        let error = "green".parse::<Colour>().unwrap_err();
        assert_eq!(error.to_string(), "\"green\" is not a known Colour");
        assert_eq!(Colour::names(), "red, deep-blue");
    }
}
