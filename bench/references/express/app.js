// The Express sample of the Mindset AI documentation ("Back end authentication", the seeds'
// 000 page), as written, so the benchmark compares the broker with what the docs suggest.
// Changed only where the sample cannot run as it stands:
// - its constants (`YOUR-MINDSET-API-KEY`, ...) are not valid JavaScript names: they come from
//   the environment; MINDSET_API_HOST carries the scheme, http:// to the loopback stand-in;
// - TypeScript annotations (`: any`) removed, so node runs the file directly;
// - getcurrentuser() is a signed cookie (cookie-parser, HMAC-SHA256), the login added so the
//   sample can be loaded with many users; no cookie, no token (401);
// - the body sends `name` and `externalId` only: the sample's "OR" (the vendor takes exactly
//   one of userEmail and externalId).
import express from "express";
import axios from "axios";
import cookieParser from "cookie-parser";

const YOUR_MINDSET_API_KEY = process.env.MINDSET_API_KEY;
const MINDSET_API_HOST = process.env.MINDSET_API_HOST;
const YOUR_APP_UID = process.env.MINDSET_APP_UID;

const app = express();
app.use(cookieParser(process.env.SECRET_KEY));

// The added login: the host app signs the user id into the `user` cookie.
function getcurrentuser(req) {
  return { currentUserId: req.signedCookies.user };
}

app.get("/api/getusertoken", async (req, res) => {
  const { currentUserId } = getcurrentuser(req);
  if (!currentUserId) {
    res.status(401).send("Not signed in");
    return;
  }
  const externalId = currentUserId;

  try {
    const embedUserToken = await axios.post(
      `${MINDSET_API_HOST}/api/v1/appuid/${YOUR_APP_UID}/sdkusers/auth`,
      {
        name: "My User Name", // optional
        // userEmail: "myuser@email.com", // OR, as the sample says
        externalId: externalId // Pass the externalId if you want to authenticate a user by externalId
      },
      {
        headers: {
            'Content-Type': 'application/json',
            'x-api-key': YOUR_MINDSET_API_KEY
        },
      }
    )
    res.send(embedUserToken.data);

  } catch (error) {
    console.error(error);
    console.error("Error", error, error.response.status, error.response, error);
    res.status(500).send("Error getting token");
  };
});

export default app;
