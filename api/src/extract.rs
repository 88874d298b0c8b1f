//! Request extractors whose rejections are [`ApiError`]s: malformed JSON is 400, JSON of the
//! wrong shape is 422 naming the field, a body over the limit is 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use mobile_shared::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// JSON body.
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                ct == "application/json"
                    || (ct.starts_with("application/") && ct.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        // The router's body limit is sized for photo uploads; JSON gets its own, smaller one.
        let bytes = axum::body::to_bytes(req.into_body(), state.config.body_limit)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
                } else {
                    ApiError::bad_request("the request body could not be read")
                }
            })?;
        // Every request body of this API is an object; serde would otherwise map an array onto
        // a struct's fields by position.
        let starts_as_object = matches!(
            bytes.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{') | None
        );
        if !starts_as_object && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "the body must be a JSON object",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, telling syntax errors (400) from shape errors (422, with the field path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // Trailing content after the value (a second object, garbage) is malformed JSON too.
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(inner) => Err(malformed(&inner)),
        },
        Err(err) => {
            // Whether the body is JSON at all is decided by the grammar alone, not by where the
            // typed read stopped: that read reports some type errors as syntax errors (an enum,
            // even a unit-only one like `"kind": "depot"`, meeting a number, bool, array or
            // null fails with `expected value`), and stops at a type error before it would
            // reach a syntax error further on.
            if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                return Err(malformed(&syntax));
            }
            let path = err.path().to_string();
            let inner = err.into_inner();
            Err(match inner.classify() {
                serde_json::error::Category::Data => shape_error(path, &inner.to_string()),
                _ => retyped_error::<T>(bytes)
                    .unwrap_or_else(|| shape_error(path, &format!("invalid value: {inner}"))),
            })
        }
    }
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::MalformedJson,
        format!("the body is not valid JSON: {e}"),
    )
}

/// The 422 for a body that is valid JSON of the wrong shape, at `path` (serde_path_to_error's).
fn shape_error(path: String, msg: &str) -> ApiError {
    let msg = strip_position(msg);
    // serde reports a missing field at its parent; name the field itself.
    let field = match missing_field(msg) {
        Some(name) if path == "." => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None if path == "." => "_".to_owned(),
        None => path,
    };
    ApiError::field(&field, msg)
}

/// Reads valid JSON again through `serde_json::Value`, whose deserializer reports a wrong type
/// as a type error (`invalid type: integer `5`, expected …`) where the streaming one says only
/// `expected value`. `None` if that read fails differently or succeeds (a duplicate key can
/// hide the first, wrong-typed value from it).
fn retyped_error<T: DeserializeOwned>(bytes: &[u8]) -> Option<ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let err = serde_path_to_error::deserialize::<_, T>(value).err()?;
    let path = err.path().to_string();
    Some(shape_error(path, &err.into_inner().to_string()))
}

fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn missing_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Query string.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_parse(query).map(ApiQuery)
    }
}

fn serde_urlencoded_parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad_request("unreadable query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| {
        let text = e.body_text();
        let text = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text)
            .to_owned();
        ApiError::field("query", text)
    })
}

/// Keyset pagination parameters shared by list routes (`?limit=&cursor=`); documented with
/// `params(PageParams)`, read with the [`Paging`] extractor.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The validated page of a list request, read from the same query string as the route's own
/// filters (each extractor ignores the other's keys): 422 naming `limit` or `cursor`.
pub struct Paging(pub domain::PageRequest);

impl<S> FromRequestParts<S> for Paging
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(p) = ApiQuery::<PageParams>::from_request_parts(parts, state).await?;
        Ok(Paging(domain::PageRequest::new(
            p.limit,
            p.cursor.as_deref(),
        )?))
    }
}

/// Path parameters; an id that is not a UUID is simply not found.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::new(ErrorCode::NotFound, "no such record"))
    }
}

/// Whether the request body is `multipart/form-data`.
pub(crate) fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// One part of a multipart body: its bytes and the file name the client gave, if any.
pub(crate) struct Part {
    pub filename: Option<String>,
    pub bytes: Bytes,
}

/// The parts named `names` of a multipart body, in that order (`None` when absent; a part
/// sent twice keeps the last). Other parts are read past and dropped. A body over the route's
/// limit is 413, an unreadable one 400 `bad_multipart`.
pub(crate) async fn multipart_fields<const N: usize>(
    req: Request,
    state: &AppState,
    names: [&str; N],
) -> Result<[Option<Part>; N], ApiError> {
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::for_status(e.status()))?;
    let mut found: [Option<Part>; N] = std::array::from_fn(|_| None);
    while let Some(field) = multipart.next_field().await.map_err(ApiError::multipart)? {
        let slot = field
            .name()
            .and_then(|name| names.iter().position(|n| *n == name));
        if let Some(i) = slot {
            let filename = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(ApiError::multipart)?;
            found[i] = Some(Part { filename, bytes });
        }
    }
    Ok(found)
}

/// [`multipart_fields`], bytes only.
pub(crate) async fn multipart_parts<const N: usize>(
    req: Request,
    state: &AppState,
    names: [&str; N],
) -> Result<[Option<Bytes>; N], ApiError> {
    let fields = multipart_fields(req, state, names).await?;
    Ok(fields.map(|f| f.map(|p| p.bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
        #[serde(default)]
        kind: Option<Kind>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Depot,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_name_the_field() {
        let e = parse_json::<T>(b"{\"name\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<T>(b"{}").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.fields.unwrap().contains_key("name"));
        let e = parse_json::<T>(br#"{"name":"x","inner":{"n":"seven"}}"#).unwrap_err();
        assert!(e.fields.unwrap().contains_key("inner.n"));
        let e = parse_json::<T>(br#"{"name":"x"} {"name":"y"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
    }

    #[test]
    fn a_wrong_type_for_an_enum_is_a_shape_error() {
        for kind in ["5", "true", "[]", "{}", "1e400", r#""nope""#] {
            let body = format!(r#"{{"name":"x","inner":{{"n":1,"kind":{kind}}}}}"#);
            let e = parse_json::<T>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {e:?}");
            assert!(
                e.fields.as_ref().unwrap().contains_key("inner.kind"),
                "{kind}: {e:?}"
            );
        }
        // `null` where an enum is required (not optional).
        let e = parse_json::<Kind>(b"null").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{e:?}");
        // A type error early does not make a body that is cut off later valid.
        let e = parse_json::<T>(br#"{"name":5,"inner":{"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
        let e = parse_json::<T>(br#"{"name":"x","inner":{"n":1,"kind":5"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
    }
}
