//! A setting written once (`threads: 2`) or as a list (`threads: [1, 2]`): the shape every
//! sweepable field of the experiment file shares.

use serde::{Deserialize, Deserializer, Serialize};

/// A setting written once (`threads: 2`) or as a list to sweep (`threads: [1, 2]`). Written
/// back the same way: a single value as a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        use serde::de::value::Error as ValueError;

        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<T> Visitor<T> {
            fn one<E: serde::de::Error>(result: Result<T, ValueError>) -> Result<OneOrMany<T>, E> {
                result.map(|v| OneOrMany(vec![v])).map_err(E::custom)
            }
        }
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::one(T::deserialize(v.into_deserializer()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::one(T::deserialize(v.into_deserializer()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Self::one(T::deserialize(v.into_deserializer()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Self::one(T::deserialize(v.into_deserializer()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Self::one(T::deserialize(v.into_deserializer()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<T>()? {
                    values.push(v);
                }
                Ok(OneOrMany(values))
            }
        }
        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

/// For fields that were once a single value and are now a list, so that experiments recorded
/// before a setting became sweepable still read back.
pub(crate) fn vec_from_one_or_many<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    OneOrMany::deserialize(deserializer).map(|v| v.0)
}
