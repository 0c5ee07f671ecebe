//! serde for `Box<[T; N]>`, the large arrays the generated mirrors keep on the heap.

use serde_big_array::BigArray;

/// Serializes the array as `serde_big_array` does an inline one.
#[allow(clippy::borrowed_box)]
pub fn serialize<S, T, const N: usize>(b: &Box<[T; N]>, s: S) -> Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: serde::Serialize,
{
    <[T; N] as BigArray<T>>::serialize(b, s)
}

/// Deserializes an array written by [`serialize`].
pub fn deserialize<'de, D, T, const N: usize>(d: D) -> Result<Box<[T; N]>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <[T; N] as BigArray<'de, T>>::deserialize(d).map(Box::new)
}
