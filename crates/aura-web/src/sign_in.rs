//! The sign-in form, shared by the apex and every workspace host: a double-submit CSRF token
//! (there is no session yet), field checks, and one answer for every refused attempt.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::layout::{render, Chrome, Section};
use crate::session::{form_token_matches, issue_form_token, FORM_CSRF_COOKIE};
use crate::AppState;

#[derive(Template)]
#[template(path = "sign_in/login.html")]
pub struct SignInPage {
    chrome: Chrome,
    heading: String,
    csrf_token: String,
    email: String,
    notice: Option<&'static str>,
    /// Where a forgotten password is reset (on the apex, for every host).
    forgot_url: String,
    email_error: Option<&'static str>,
    password_error: Option<&'static str>,
    form_error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    csrf_token: String,
}

/// The empty form, with a fresh token in a cookie and in the form.
pub fn show(
    state: &AppState,
    chrome: Chrome,
    heading: String,
    notice: Option<&'static str>,
) -> Response {
    let (jar, mut page) = fresh(state, CookieJar::new(), chrome, heading, String::new());
    page.notice = notice;
    (jar, render(&page)).into_response()
}

/// A submitted form that passed the CSRF and field checks, ready to be tried: on refusal,
/// [`Attempt::rejected`] re-renders it with the email kept and a new token.
pub struct Attempt {
    jar: CookieJar,
    page: SignInPage,
}

impl Attempt {
    /// Checks the form; an error answer is returned as `Err`, ready to send.
    pub fn check(
        state: &AppState,
        jar: CookieJar,
        chrome: Chrome,
        heading: String,
        form: &SignInForm,
    ) -> Result<Self, Box<Response>> {
        // Read before the jar gets the next token.
        let csrf_ok = form_token_matches(&jar, &form.csrf_token);
        let (jar, mut page) = fresh(state, jar, chrome, heading, form.email.trim().to_owned());
        let answer = |status: StatusCode, page: SignInPage, jar: CookieJar| {
            (status, jar, render(&page)).into_response()
        };
        if !csrf_ok {
            page.form_error = Some("This form had expired. Please sign in again.");
            return Err(Box::new(answer(StatusCode::FORBIDDEN, page, jar)));
        }
        if form.email.trim().is_empty() {
            page.email_error = Some("Enter your email address.");
        }
        if form.password.is_empty() {
            page.password_error = Some("Enter your password.");
        }
        if page.email_error.is_some() || page.password_error.is_some() {
            return Err(Box::new(answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                page,
                jar,
            )));
        }
        Ok(Self { jar, page })
    }

    /// The cookies to send with a successful sign-in: the form's token is spent.
    pub fn into_jar(self) -> CookieJar {
        self.jar.remove(crate::session::removal(FORM_CSRF_COOKIE))
    }

    /// The answer to wrong credentials, a locked account or a barred member: all the same,
    /// with `message` saying so.
    pub fn rejected(mut self, message: &'static str) -> Response {
        self.page.form_error = Some(message);
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            self.jar,
            render(&self.page),
        )
            .into_response()
    }
}

fn fresh(
    state: &AppState,
    jar: CookieJar,
    chrome: Chrome,
    heading: String,
    email: String,
) -> (CookieJar, SignInPage) {
    let (jar, token) = issue_form_token(state, jar);
    let page = SignInPage {
        chrome,
        heading,
        csrf_token: token,
        email,
        notice: None,
        forgot_url: state.site.apex_url("/password-reset"),
        email_error: None,
        password_error: None,
        form_error: None,
    };
    (jar, page)
}
