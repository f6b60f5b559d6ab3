/* fristed: the citizen chat page: write (chat), call now ("Ring op"), or be called back ("Ring mig
   op"). Needs /static/api.js and /static/protocol.js first. Page logic only: the protocol lives in
   protocol.js (ChatClient, CallClient). Words live in STRINGS below (Danish first). */
"use strict";

(function () {
  const P = window.fristedProtocol;
  const api = window.fristedApi;
  const EXIT_URL = "/exit";
  const UI_KEY = "ui"; // sessionStorage: chosen language and whether the danger card is shown
  const ESC_WINDOW_MS = 1500;
  const STATUS_POLL_MS = 30000;
  const RING_EVERY_MS = 3000;     // a ringing call-back sounds and vibrates this often
  const MIN_WINDOW_S = 30 * 60;   // a call-back window shorter than this is not offered
  const HOUR = 3600;

  /* ------------------------------------------------------------------ words */

  const STRINGS = {
    da: {
      langButton: "English",
      emergencyButton: "Nødnumre",
      exitButton: "Forlad siden hurtigt",
      exitHint: "Du kan også trykke to gange på Esc.",
      loading: "Vent lidt …",
      startTitle: "Skriv med et menneske",
      startLead: "Her kan du skrive med en fra værestedet. Du behøver ikke sige, hvem du er.",
      startSafe: "Vi kan ikke se, hvem du er. Samtalen bliver slettet af sig selv efter en tid. Du kan selv slette dine beskeder. Du kan stoppe når som helst.",
      dangerQuestion: "Er du i fare lige nu?",
      dangerMissing: "Svar Ja eller Nej.",
      yes: "Ja",
      no: "Nej",
      topicQuestion: "Hvad vil du tale om?",
      topicHint: "Vælg det, der passer bedst. Du kan også springe over.",
      nameLabel: "Hvad vil du kaldes?",
      nameHint: "Du behøver ikke skrive dit rigtige navn. Skriver du ikke noget, finder vi et navn til dig.",
      startButton: "Start samtalen",
      starting: "Starter …",
      toLetters: "Skriv et brev i stedet, eller læs et svar",
      toLettersShort: "Skriv et brev",
      toChat: "Skriv med et menneske nu",
      toChatOpen: "Nu er der en på vagt. Skriv med et menneske nu",
      onDuty1: "Der er 1 på vagt nu.",
      onDutyN: "Der er {n} på vagt nu.",
      waiting0: "Ingen venter lige nu.",
      waiting1: "1 person venter.",
      waitingN: "{n} personer venter.",
      closedNow: "Lige nu er der ingen på vagt.",
      statusFailed: "Vi kan ikke nå Fristed lige nu. Vi prøver igen.",
      estimateRange: "Det tager nok {low}–{high} minutter, før der er en til dig.",
      estimateUnder: "Det tager nok under {high} minutter, før der er en til dig.",
      estimateUnknown: "Vi ved ikke hvor længe.",
      lettersTitleClosed: "Der er ingen på vagt lige nu",
      lettersTitle: "Brevkassen",
      closedLead: "Vi er mennesker, og lige nu kan ingen svare dig her.",
      lettersIntro: "Du kan skrive et brev til os. Vi svarer, når der er en på vagt. Du får en kode, så du kan læse svaret.",
      letterTitle: "Skriv et brev",
      letterLabel: "Dit brev",
      letterHint: "Skriv ikke dit navn eller din adresse, hvis du vil være anonym.",
      letterTopic: "Emne (du kan springe over)",
      letterNoTopic: "Intet emne",
      letterButton: "Send brevet",
      letterEmpty: "Skriv dit brev først.",
      letterSending: "Sender …",
      letterSent: "Dit brev er sendt",
      codeIs: "Din kode er:",
      codeWriteDown: "Skriv koden ned nu. Du skal bruge den for at læse svaret. Vi kan ikke finde koden igen.",
      copyCode: "Kopiér koden",
      copied: "Koden er kopieret.",
      copyFailed: "Det virkede ikke. Skriv koden ned i stedet.",
      readTitle: "Læs svar",
      readLabel: "Din kode",
      readHint: "Skriv den kode, du fik, da du sendte dit brev. Den ser sådan ud: AB12-CD34-EF56-7890",
      readButton: "Læs svar",
      readEmpty: "Skriv din kode først.",
      readWrong: "Koden passer ikke. Tjek den, og prøv igen. Hvis du har læst svaret før, virker koden ikke mere.",
      answerWaitingTitle: "Der er ikke kommet svar endnu",
      answerWaitingNote: "Prøv igen senere. Din kode virker stadig.",
      answerTitle: "Du har fået svar",
      answerNote: "Koden virker ikke mere nu. Læs svaret her. Skriv det ned, hvis du vil huske det.",
      yourLetter: "Dit brev",
      replyFrom: "Svar fra {name}",
      reply: "Svar",
      chatTitle: "Din samtale",
      resuming: "Henter din samtale …",
      whoWaiting: "Du hedder {pseudonym} her.",
      whoActive: "Du skriver med {staff}. Du hedder {pseudonym} her.",
      staffFallback: "en fra værestedet",
      queueFirst: "Du er den næste i køen.",
      queueN: "Du er nummer {n} i køen.",
      queueUnknown: "Du er i køen.",
      queueNote: "Du kan godt skrive nu. Vi læser det, når vi tager din samtale.",
      queueClosed: "Lige nu er der ingen på vagt. Du beholder din plads, men det kan tage lang tid. Du kan også afslutte og skrive et brev i stedet.",
      joined: "{name} er her nu. I kan skrive sammen.",
      typing: "{name} skriver …",
      messagesTitle: "Beskeder",
      you: "Du",
      system: "Besked fra Fristed",
      sending: "Sender …",
      offlineQueued: "Sendes, når forbindelsen er tilbage",
      sent: "Sendt",
      deleteButton: "Slet",
      deleteLabel: "Slet din besked: {text}",
      deleteQuestion: "Slet beskeden?",
      deleteYes: "Ja, slet",
      deleteNo: "Nej",
      deleteFailed: "Det lykkedes ikke at slette. Prøv igen.",
      deletedOwn: "Du har slettet beskeden.",
      deleted: "Beskeden er slettet.",
      rejected: "Beskeden kunne ikke sendes.",
      textLabel: "Skriv din besked",
      textHint: "Tryk på Send, når du er klar.",
      textEmpty: "Skriv en besked først.",
      send: "Send",
      leave: "Afslut samtalen",
      leaveQuestion: "Vil du afslutte samtalen nu?",
      leaveYes: "Ja, afslut",
      leaveNo: "Nej, bliv her",
      endedTitle: "Samtalen er slut",
      endedCare: "Pas godt på dig selv. Er du i fare, så ring 112.",
      newChat: "Start en ny samtale",
      end_left: "Du har afsluttet samtalen.",
      end_quick_exit: "Samtalen er afsluttet.",
      end_ended: "{staff} har afsluttet samtalen. Tak fordi du skrev.",
      end_ended_anon: "Samtalen er afsluttet af værestedet. Tak fordi du skrev.",
      end_blocked: "Samtalen er lukket af værestedet. Du kan ikke skrive her i et stykke tid. Har du brug for hjælp nu, så ring til et af nødnumrene.",
      end_lost: "Samtalen er slut, fordi forbindelsen var væk for længe.",
      end_timeout: "Samtalen er slut, fordi der ikke blev skrevet noget i lang tid.",
      end_gone: "Din samtale er slut. Du kan starte en ny.",
      end_other: "Samtalen er slut.",
      connLost: "Forbindelsen er væk. Vi prøver igen …",
      connLostKeep: "Forbindelsen er væk. Vi prøver igen. Du beholder din plads og dine beskeder.",
      connBack: "Forbindelsen er tilbage.",
      offline: "Der er ingen forbindelse lige nu. Prøv igen om lidt.",
      tooFast: "Du skriver meget hurtigt. Vent lidt, og prøv igen.",
      tooSlow: "Det tog for lang tid. Prøv igen.",
      failed: "Det lykkedes ikke. Prøv igen.",
      closedStart: "Der er lige gået den sidste af vagt. Du kan skrive et brev i stedet.",
      blockedStart: "Du kan ikke starte en samtale lige nu. Har du brug for hjælp nu, så ring til et af nødnumrene.",
      badName: "Brug kun bogstaver, tal og mellemrum i navnet. Eller lad feltet stå tomt.",
      badTopic: "Det emne findes ikke mere. Vælg et andet, eller spring over.",
      elsewhere: "Din samtale er åbnet i et andet vindue eller en anden fane.",
      elsewhereButton: "Fortsæt samtalen her",
      emergencyTitle: "Nødnumre",
      emergencyLead: "Er du i fare, så ring 112. Det er gratis. Der er altid nogen, der svarer.",
      dangerCardTitle: "Er du i fare, så ring 112 nu",
      dangerCardText: "Du kan stadig skrive med os. Vi tager dem, der er i fare, først.",
      call112: "Ring 112",
      moreNumbers: "Se flere numre",
      callLabel: "Ring til {label}",
      close: "Luk",
      startLeadCalls: "Her kan du skrive eller tale med en fra værestedet. Du behøver ikke sige, hvem du er.",
      callbackTitle: "Bliv ringet op",
      callbackLead: "Vælg, hvornår vi må ringe til dig. Vi ringer her på siden, når der er en på vagt.",
      callWaysLead: "Vil du hellere tale med os?",
      callButton: "Ring op",
      callQuestion: "Vil du have kameraet tændt?",
      callVideo: "Ring op med kamera",
      callAudio: "Ring op uden kamera",
      callAudioHint: "Uden kamera kan vi høre dig, men ikke se dig.",
      callbackButton: "Ring mig op",
      callbackWhen: "Hvornår må vi ringe til dig?",
      callbackHow: "Vil du have kameraet tændt?",
      cbAudio: "Nej, kun lyd",
      cbVideo: "Ja, med kamera",
      callbackHint: "Vi ringer her på siden, ikke til dit telefonnummer. Hold siden åben. Lukker du den, kan vi ikke ringe til dig.",
      callbackSend: "Ring mig op",
      windowMissing: "Vælg et tidspunkt.",
      windowNone: "Der er ingen tider at vælge lige nu. Prøv igen senere, eller skriv et brev.",
      windowGone: "Det tidspunkt er gået. Vælg et andet.",
      win_soon: "Inden for en time",
      win_open: "Når vi åbner, {when}",
      win_today_morning: "I formiddag kl. 9–12",
      win_today_afternoon: "I eftermiddag kl. 12–17",
      win_today_evening: "I aften kl. 18–22",
      win_tomorrow_morning: "I morgen formiddag kl. 9–12",
      win_tomorrow_evening: "I morgen aften kl. 18–22",
      calling: "Ringer op …",
      callsOff: "Vi tager ikke imod opkald lige nu. Du kan skrive til os i stedet.",
      closedCallbackTitle: "Vil du tale med os?",
      closedCallbackText: "Vi kan ringe dig op, når der er en på vagt. Vi ringer her på siden.",
      closedCallbackButton: "Bed os ringe dig op",
      nextOpen: "Vi åbner igen {when}.",
      today: "i dag",
      tomorrow: "i morgen",
      dayAt: "{day} kl. {time}",
      callTitleWaiting: "Du ringer op",
      callTitleScheduled: "Vi ringer til dig senere",
      callTitleRinging: "Vi ringer til dig",
      callTitleConnected: "Dit opkald er i gang",
      callTitleOver: "Opkaldet er slut",
      callResuming: "Henter dit opkald …",
      callWhoVideo: "Du hedder {pseudonym} her. Du har valgt opkald med kamera.",
      callWhoAudio: "Du hedder {pseudonym} her. Du har valgt kun lyd. Dit kamera er slukket.",
      callQueueNote: "Bliv her på siden. Når det er din tur, går opkaldet i gang her.",
      callClosed: "Lige nu er der ingen på vagt. Du beholder din plads, men det kan tage lang tid. Du kan også skifte til chat eller skrive et brev.",
      windowText: "Vi prøver at ringe til dig {when}.",
      windowRange: "{day} mellem kl. {from} og {to}",
      keepOpen: "Hold siden åben, så ringer vi.",
      keepOpenHint: "Vi ringer her på siden, ikke til dit telefonnummer. Lad siden være åben, og kig på den en gang imellem. Hvis skærmen slukker, hører du det måske ikke.",
      ringTitle: "Vi ringer til dig nu",
      ringWho: "{name} fra værestedet ringer til dig.",
      ringWhoAnon: "En fra værestedet ringer til dig.",
      answer: "Tag imod opkaldet",
      answering: "Tager imod opkaldet …",
      connecting: "Vi forbinder dig med {name} nu …",
      connectingAnon: "Vi forbinder dig nu …",
      connectedElsewhere: "Dit opkald er i gang. Tryk på knappen for at komme tilbage til det.",
      toRoom: "Gå til opkaldet",
      longWaitTitle: "Det tager lang tid",
      longWaitText: "Du kan blive ved med at vente. Du kan også skrive et brev til os. Så svarer vi, så snart vi kan.",
      hangupToLetters: "Læg på og skriv et brev",
      switchToChat: "Skift til chat",
      switching: "Skifter til chat …",
      hangup: "Læg på",
      declinedTitle: "Vi kan ikke tage dit opkald lige nu",
      declinedText: "Det er ikke din skyld. Der er en besked til dig fra værestedet:",
      declinedNoText: "Det er ikke din skyld.",
      whatNow: "Hvad vil du nu?",
      overChat: "Skriv med os",
      overCallback: "Bed os ringe dig op",
      call_end_left: "Du har lagt på.",
      call_end_ended: "Opkaldet er slut. Tak for snakken.",
      call_end_lost: "Opkaldet er slut, fordi forbindelsen var væk for længe.",
      call_end_declined: "Vi kunne ikke tage dit opkald.",
      call_end_unanswered: "Vi prøvede at ringe til dig, men kom ikke igennem. Du kan bede os ringe igen.",
      call_end_timeout: "Vi nåede ikke at ringe til dig i det tidsrum, du valgte. Det er vi kede af. Du kan bede os ringe igen eller skrive til os.",
      call_end_gone: "Dit opkald er slut. Du kan ringe igen.",
      call_end_other: "Opkaldet er slut.",
    },
    en: {
      langButton: "Dansk",
      emergencyButton: "Emergency",
      exitButton: "Leave this page quickly",
      exitHint: "You can also press Esc twice.",
      loading: "One moment …",
      startTitle: "Write to a person",
      startLead: "Here you can write to someone from the drop-in centre. You do not have to say who you are.",
      startSafe: "We cannot see who you are. The chat is deleted by itself after a while. You can delete your own messages. You can stop at any time.",
      dangerQuestion: "Are you in danger right now?",
      dangerMissing: "Answer Yes or No.",
      yes: "Yes",
      no: "No",
      topicQuestion: "What do you want to talk about?",
      topicHint: "Choose what fits best. You can also skip this.",
      nameLabel: "What should we call you?",
      nameHint: "You do not have to use your real name. If you write nothing, we will find a name for you.",
      startButton: "Start the chat",
      starting: "Starting …",
      toLetters: "Write a letter instead, or read an answer",
      toLettersShort: "Write a letter",
      toChat: "Write to a person now",
      toChatOpen: "Someone is on duty now. Write to a person now",
      onDuty1: "1 person is on duty now.",
      onDutyN: "{n} people are on duty now.",
      waiting0: "Nobody is waiting right now.",
      waiting1: "1 person is waiting.",
      waitingN: "{n} people are waiting.",
      closedNow: "Nobody is on duty right now.",
      statusFailed: "We cannot reach Fristed right now. We will keep trying.",
      estimateRange: "It will probably take {low}–{high} minutes before someone is free for you.",
      estimateUnder: "It will probably take less than {high} minutes before someone is free for you.",
      estimateUnknown: "We do not know how long.",
      lettersTitleClosed: "Nobody is on duty right now",
      lettersTitle: "Letterbox",
      closedLead: "We are people, and right now nobody can answer you here.",
      lettersIntro: "You can write a letter to us. We answer when someone is on duty. You get a code, so you can read the answer.",
      letterTitle: "Write a letter",
      letterLabel: "Your letter",
      letterHint: "Do not write your name or address if you want to stay anonymous.",
      letterTopic: "Topic (you can skip this)",
      letterNoTopic: "No topic",
      letterButton: "Send the letter",
      letterEmpty: "Write your letter first.",
      letterSending: "Sending …",
      letterSent: "Your letter has been sent",
      codeIs: "Your code is:",
      codeWriteDown: "Write the code down now. You need it to read the answer. We cannot find the code again.",
      copyCode: "Copy the code",
      copied: "The code has been copied.",
      copyFailed: "That did not work. Write the code down instead.",
      readTitle: "Read an answer",
      readLabel: "Your code",
      readHint: "Write the code you got when you sent your letter. It looks like this: AB12-CD34-EF56-7890",
      readButton: "Read the answer",
      readEmpty: "Write your code first.",
      readWrong: "The code is not right. Check it and try again. If you have read the answer before, the code no longer works.",
      answerWaitingTitle: "No answer yet",
      answerWaitingNote: "Try again later. Your code still works.",
      answerTitle: "You have an answer",
      answerNote: "The code no longer works now. Read the answer here. Write it down if you want to remember it.",
      yourLetter: "Your letter",
      replyFrom: "Answer from {name}",
      reply: "Answer",
      chatTitle: "Your chat",
      resuming: "Getting your chat …",
      whoWaiting: "Your name here is {pseudonym}.",
      whoActive: "You are writing with {staff}. Your name here is {pseudonym}.",
      staffFallback: "someone from the centre",
      queueFirst: "You are next in the queue.",
      queueN: "You are number {n} in the queue.",
      queueUnknown: "You are in the queue.",
      queueNote: "You can write now. We will read it when we take your chat.",
      queueClosed: "Nobody is on duty right now. You keep your place, but it may take a long time. You can also end the chat and write a letter instead.",
      joined: "{name} is here now. You can write to each other.",
      typing: "{name} is writing …",
      messagesTitle: "Messages",
      you: "You",
      system: "Message from Fristed",
      sending: "Sending …",
      offlineQueued: "Will be sent when the connection is back",
      sent: "Sent",
      deleteButton: "Delete",
      deleteLabel: "Delete your message: {text}",
      deleteQuestion: "Delete the message?",
      deleteYes: "Yes, delete",
      deleteNo: "No",
      deleteFailed: "The message was not deleted. Try again.",
      deletedOwn: "You deleted this message.",
      deleted: "This message was deleted.",
      rejected: "The message could not be sent.",
      textLabel: "Write your message",
      textHint: "Press Send when you are ready.",
      textEmpty: "Write a message first.",
      send: "Send",
      leave: "End the chat",
      leaveQuestion: "Do you want to end the chat now?",
      leaveYes: "Yes, end it",
      leaveNo: "No, stay here",
      endedTitle: "The chat has ended",
      endedCare: "Take good care of yourself. If you are in danger, call 112.",
      newChat: "Start a new chat",
      end_left: "You ended the chat.",
      end_quick_exit: "The chat has ended.",
      end_ended: "{staff} ended the chat. Thank you for writing.",
      end_ended_anon: "The centre ended the chat. Thank you for writing.",
      end_blocked: "The centre has closed the chat. You cannot write here for a while. If you need help now, call one of the emergency numbers.",
      end_lost: "The chat ended because the connection was gone for too long.",
      end_timeout: "The chat ended because nothing was written for a long time.",
      end_gone: "Your chat has ended. You can start a new one.",
      end_other: "The chat has ended.",
      connLost: "The connection is gone. We are trying again …",
      connLostKeep: "The connection is gone. We are trying again. You keep your place and your messages.",
      connBack: "The connection is back.",
      offline: "There is no connection right now. Try again in a moment.",
      tooFast: "You are writing very fast. Wait a moment and try again.",
      tooSlow: "That took too long. Try again.",
      failed: "That did not work. Try again.",
      closedStart: "The last person on duty has just gone. You can write a letter instead.",
      blockedStart: "You cannot start a chat right now. If you need help now, call one of the emergency numbers.",
      badName: "Use only letters, numbers and spaces in the name. Or leave it empty.",
      badTopic: "That topic no longer exists. Choose another one, or skip it.",
      elsewhere: "Your chat is open in another window or tab.",
      elsewhereButton: "Continue the chat here",
      emergencyTitle: "Emergency numbers",
      emergencyLead: "If you are in danger, call 112. It is free. Someone always answers.",
      dangerCardTitle: "If you are in danger, call 112 now",
      dangerCardText: "You can still write to us. We take people in danger first.",
      call112: "Call 112",
      moreNumbers: "See more numbers",
      callLabel: "Call {label}",
      close: "Close",
      startLeadCalls: "Here you can write or talk to someone from the drop-in centre. You do not have to say who you are.",
      callbackTitle: "Be called back",
      callbackLead: "Choose when we may call you. We call you here on this page when someone is on duty.",
      callWaysLead: "Would you rather talk to us?",
      callButton: "Call us",
      callQuestion: "Do you want your camera on?",
      callVideo: "Call with camera",
      callAudio: "Call without camera",
      callAudioHint: "Without the camera we can hear you, but not see you.",
      callbackButton: "Call me back",
      callbackWhen: "When may we call you?",
      callbackHow: "Do you want your camera on?",
      cbAudio: "No, sound only",
      cbVideo: "Yes, with camera",
      callbackHint: "We call you here on this page, not your phone number. Keep the page open. If you close it, we cannot call you.",
      callbackSend: "Call me back",
      windowMissing: "Choose a time.",
      windowNone: "There are no times to choose right now. Try again later, or write a letter.",
      windowGone: "That time has passed. Choose another one.",
      win_soon: "Within an hour",
      win_open: "When we open, {when}",
      win_today_morning: "This morning, 9–12",
      win_today_afternoon: "This afternoon, 12–17",
      win_today_evening: "This evening, 18–22",
      win_tomorrow_morning: "Tomorrow morning, 9–12",
      win_tomorrow_evening: "Tomorrow evening, 18–22",
      calling: "Calling …",
      callsOff: "We do not take calls right now. You can write to us instead.",
      closedCallbackTitle: "Do you want to talk to us?",
      closedCallbackText: "We can call you back when someone is on duty. We call you here on this page.",
      closedCallbackButton: "Ask us to call you back",
      nextOpen: "We open again {when}.",
      today: "today",
      tomorrow: "tomorrow",
      dayAt: "{day} at {time}",
      callTitleWaiting: "You are calling",
      callTitleScheduled: "We will call you back",
      callTitleRinging: "We are calling you",
      callTitleConnected: "Your call is on",
      callTitleOver: "The call has ended",
      callResuming: "Getting your call …",
      callWhoVideo: "Your name here is {pseudonym}. You chose a call with camera.",
      callWhoAudio: "Your name here is {pseudonym}. You chose sound only. Your camera is off.",
      callQueueNote: "Stay on this page. When it is your turn, the call starts here.",
      callClosed: "Nobody is on duty right now. You keep your place, but it may take a long time. You can also switch to chat or write a letter.",
      windowText: "We will try to call you {when}.",
      windowRange: "{day} between {from} and {to}",
      keepOpen: "Keep the page open, and we will call you.",
      keepOpenHint: "We call you here on this page, not your phone number. Keep the page open and look at it now and then. If the screen goes dark, you may not hear it.",
      ringTitle: "We are calling you now",
      ringWho: "{name} from the centre is calling you.",
      ringWhoAnon: "Someone from the centre is calling you.",
      answer: "Answer the call",
      answering: "Answering …",
      connecting: "We are connecting you with {name} now …",
      connectingAnon: "We are connecting you now …",
      connectedElsewhere: "Your call is on. Press the button to get back to it.",
      toRoom: "Go to the call",
      longWaitTitle: "It is taking a long time",
      longWaitText: "You can keep waiting. You can also write a letter to us. Then we answer as soon as we can.",
      hangupToLetters: "Hang up and write a letter",
      switchToChat: "Switch to chat",
      switching: "Switching to chat …",
      hangup: "Hang up",
      declinedTitle: "We cannot take your call right now",
      declinedText: "It is not your fault. There is a message for you from the centre:",
      declinedNoText: "It is not your fault.",
      whatNow: "What do you want to do now?",
      overChat: "Write to us",
      overCallback: "Ask us to call you back",
      call_end_left: "You hung up.",
      call_end_ended: "The call has ended. Thank you for talking with us.",
      call_end_lost: "The call ended because the connection was gone for too long.",
      call_end_declined: "We could not take your call.",
      call_end_unanswered: "We tried to call you but could not get through. You can ask us to call again.",
      call_end_timeout: "We did not manage to call you in the time you chose. We are sorry. You can ask us to call again or write to us.",
      call_end_gone: "Your call has ended. You can call again.",
      call_end_other: "The call has ended.",
    },
  };

  /* ------------------------------------------------------------------ state */

  function readUi() {
    try {
      const value = JSON.parse(window.sessionStorage.getItem(UI_KEY) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (err) {
      return {};
    }
  }

  function saveUi() {
    try {
      window.sessionStorage.setItem(UI_KEY, JSON.stringify({ lang: lang, danger: dangerShown }));
    } catch (err) {
      /* storage blocked: the page still works */
    }
  }

  const ui = readUi();
  let lang = ui.lang === "en" ? "en" : "da";
  let dangerShown = ui.danger === true;
  let status = null;          // the last GET /api/chat/status answer
  let statusFailed = false;
  let view = "loading";
  let lettersClosed = false;  // the letterbox view was opened because nobody is on duty
  let pseudonym = null;
  let staffName = null;
  let chatState = null;       // the last chat.state frame
  let ended = null;           // {reason} once the chat has ended
  let connWasDown = false;
  let exiting = false;
  let lastEsc = 0;
  let starting = false;
  let letterCode = null;
  let answer = null;          // the last letter.answer frame
  let typingTimer = 0;
  let typingSentAt = 0;
  let staffTypingTimer = 0;
  let connTimer = 0;
  let startMode = "all";      // "all": write, call, call-back; "callback": only a call-back (nobody on duty)
  let callPanel = null;       // which call panel is open on the start view: "call", "callback" or null
  let callState = null;       // the last call.state frame (or what we know from call.started/resumed)
  let callOver = null;        // {reason, message} once the call has ended or was declined
  let callStaff = null;       // the staff member's name, from call.incoming or call.connect
  let ringTimer = 0;
  let toRoom = false;         // on the way to the room page: the socket closing is expected

  const conn = new P.Connection();
  const chat = new P.ChatClient(conn);
  const call = new P.CallClient(conn, { chat: chat });
  const rendered = new Map();   // message id -> <li>
  const pendingEls = new Map(); // client_id -> <li>

  const $ = (id) => document.getElementById(id);
  const el = {
    emergencyButton: $("emergency-button"),
    exitButton: $("exit-button"),
    dialogExit: $("emergency-exit"),
    langButton: $("lang-button"),
    connStatus: $("conn-status"),
    views: {
      loading: $("view-loading"),
      start: $("view-start"),
      letters: $("view-letters"),
      chat: $("view-chat"),
      call: $("view-call"),
    },
    startLead: $("start-lead"),
    callWays: $("call-ways"),
    callWaysLead: $("call-ways-lead"),
    callButton: $("call-button"),
    callPanel: $("call-panel"),
    callVideo: $("call-video"),
    callAudio: $("call-audio"),
    callbackButton: $("callback-button"),
    callbackPanel: $("callback-panel"),
    windowList: $("window-list"),
    windowError: $("window-error"),
    cbAudio: $("cb-audio"),
    cbVideo: $("cb-video"),
    callbackError: $("callback-error"),
    callbackSend: $("callback-send"),
    closedNext: $("closed-next"),
    closedCallback: $("closed-callback"),
    closedCallbackButton: $("closed-callback-button"),
    callTitle: $("call-title"),
    callWho: $("call-who"),
    dangerCall: $("danger-card-call"),
    callRing: $("call-ring"),
    callRingWho: $("call-ring-who"),
    callAnswer: $("call-answer"),
    callQueue: $("call-queue"),
    callPosition: $("call-position"),
    callEstimate: $("call-estimate"),
    callClosed: $("call-closed"),
    callWindowBox: $("call-window-box"),
    callWindow: $("call-window"),
    callStatus: $("call-status"),
    callRoomLink: $("call-room-link"),
    callLetterbox: $("call-letterbox"),
    callToLetters: $("call-to-letters"),
    callEmergency: $("call-emergency"),
    callOverBox: $("call-over"),
    callOverTitle: $("call-over-title"),
    callOverReason: $("call-over-reason"),
    callOverMessage: $("call-over-message"),
    callOverChat: $("call-over-chat"),
    callOverCallback: $("call-over-callback"),
    callOverLetters: $("call-over-letters"),
    callActions: $("call-actions"),
    callSwitch: $("call-switch"),
    callHangup: $("call-hangup"),
    startTitle: $("start-title"),
    startInfo: $("start-open-info"),
    startForm: $("start-form"),
    dangerYes: $("danger-yes"),
    dangerNo: $("danger-no"),
    dangerError: $("danger-error"),
    dangerStart: $("danger-card-start"),
    topicList: $("topic-list"),
    name: $("name"),
    startError: $("start-error"),
    startButton: $("start-button"),
    startToLetters: $("start-to-letters"),
    lettersTitle: $("letters-title"),
    closedNotice: $("closed-notice"),
    closedHours: $("closed-hours"),
    letterForm: $("letter-form"),
    letterText: $("letter-text"),
    letterTopic: $("letter-topic"),
    letterError: $("letter-error"),
    letterButton: $("letter-button"),
    codeBox: $("letter-code-box"),
    code: $("letter-code"),
    copyCode: $("copy-code"),
    copyStatus: $("copy-status"),
    readForm: $("read-form"),
    readCode: $("read-code"),
    readError: $("read-error"),
    readButton: $("read-button"),
    answerBox: $("letter-answer"),
    answerTitle: $("answer-title"),
    answerNote: $("answer-note"),
    answerMessages: $("answer-messages"),
    lettersToStart: $("letters-to-start"),
    chatTitle: $("chat-title"),
    chatWho: $("chat-who"),
    dangerChat: $("danger-card-chat"),
    queueBox: $("queue-box"),
    queuePosition: $("queue-position"),
    queueEstimate: $("queue-estimate"),
    queueClosed: $("queue-closed"),
    joined: $("joined-box"),
    messages: $("messages"),
    typing: $("typing"),
    endedBox: $("ended-box"),
    endedReason: $("ended-reason"),
    newChat: $("new-chat"),
    endedToLetters: $("ended-to-letters"),
    sendForm: $("send-form"),
    text: $("text"),
    sendError: $("send-error"),
    leaveRow: $("leave-row"),
    leaveButton: $("leave-button"),
    leaveConfirm: $("leave-confirm"),
    leaveYes: $("leave-yes"),
    leaveNo: $("leave-no"),
    dialog: $("emergency-dialog"),
    dialogList: $("emergency-list"),
    dialogClose: $("emergency-close"),
  };

  /* ------------------------------------------------------------------ helpers */

  function t(key, vars) {
    return window.fristedUi.translate(STRINGS, lang, key, vars);
  }

  function make(tag, className, text) {
    return window.fristedUi.make(tag, className, text);
  }

  function say(node, text) {
    if (node.textContent !== text) {
      node.textContent = text || "";
    }
  }

  function clock(ts) {
    const when = new Date((typeof ts === "number" ? ts : Date.now() / 1000) * 1000);
    return when.toLocaleTimeString(lang === "da" ? "da-DK" : "en-GB", { hour: "2-digit", minute: "2-digit" });
  }

  /** "70201201" -> "70 20 12 01", easier to read aloud; short numbers stay as they are. */
  function spaced(number) {
    const digits = String(number).replace(/\s+/g, "");
    return /^\d{8}$/.test(digits) ? digits.replace(/(\d\d)(?=\d)/g, "$1 ") : String(number);
  }

  function focusOn(node) {
    if (node) {
      node.focus({ preventScroll: false });
    }
  }

  function showView(name, focus) {
    view = name;
    for (const key of Object.keys(el.views)) {
      el.views[key].hidden = key !== name;
    }
    if (focus) {
      focusOn(focus);
    }
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 240;
  }

  /* ------------------------------------------------------------------ language */

  function applyLanguage() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.getAttribute("data-i18n"));
    }
    el.langButton.textContent = t("langButton");
    el.langButton.lang = lang === "da" ? "en" : "da";
    renderEmergency(el.dialogList);
    renderDangerCards();
    renderStartInfo();
    renderTopics();
    renderLettersView();
    renderChatHeader();
    renderQueue();
    renderEnded();
    renderAnswer();
    windowsShown = null;
    renderStartMode();
    if (view === "call") {
      renderCall();
    }
    for (const li of el.messages.children) {
      refreshMessage(li);
    }
  }

  function toggleLanguage() {
    lang = lang === "da" ? "en" : "da";
    saveUi();
    applyLanguage();
  }

  /* ------------------------------------------------------------------ emergency */

  function emergencyNumbers() {
    const list = [{ label: "Alarm 112", number: "112" }];
    const extra = status && Array.isArray(status.emergency) ? status.emergency.slice() : [];
    if (callState && Array.isArray(callState.emergency)) {
      extra.push(...callState.emergency); // the numbers the node sent with the call's state
    }
    for (const entry of extra) {
      if (!entry || typeof entry.number !== "string" || typeof entry.label !== "string") {
        continue;
      }
      const number = entry.number.replace(/\s+/g, "");
      if (!/^\+?[0-9]{2,15}$/.test(number)) {
        continue;
      }
      if (number === "112") {
        list[0].label = entry.label;
      } else if (!list.some((e) => e.number === number)) {
        list.push({ label: entry.label, number: number });
      }
    }
    return list;
  }

  function renderEmergency(listNode) {
    listNode.textContent = "";
    for (const entry of emergencyNumbers()) {
      const li = make("li");
      const link = make("a", "tel-link" + (entry.number === "112" ? " tel-112" : ""));
      link.href = "tel:" + entry.number;
      if (entry.number === "112") {
        link.append(make("span", "tel-number", t("call112")));
      } else {
        link.append(make("span", "tel-label", entry.label), make("span", "tel-number", spaced(entry.number)));
        link.setAttribute("aria-label", t("callLabel", { label: entry.label }) + ", " + spaced(entry.number));
      }
      li.append(link);
      listNode.append(li);
    }
  }

  /** The emergency card: every number before the chat; in the chat a short one that stays out of the way. */
  function dangerCard(compact, slot) {
    const card = make("section", "card card-danger" + (compact ? " danger-compact" : ""));
    const id = "danger-title-" + (slot || (compact ? "chat" : "start"));
    const title = make("h2", null, t("dangerCardTitle"));
    title.id = id;
    card.setAttribute("aria-labelledby", id);
    if (compact) {
      const call = make("a", "tel-link tel-112", t("call112"));
      call.href = "tel:112";
      const more = make("button", "link-button", t("moreNumbers"));
      more.type = "button";
      more.setAttribute("aria-haspopup", "dialog");
      more.addEventListener("click", openEmergency);
      card.append(title, call, more);
      return card;
    }
    const list = make("ul", "emergency-list");
    renderEmergency(list);
    card.append(title, make("p", null, t("dangerCardText")), list);
    return card;
  }

  let cardsShown = null;

  function renderDangerCards() {
    const startShown = el.dangerYes.checked;
    const longWait = Boolean(callState && callState.letterbox && !callOver);
    const signature = [lang, startShown, dangerShown, longWait, JSON.stringify(emergencyNumbers())].join("|");
    if (signature === cardsShown) {
      return;
    }
    cardsShown = signature;
    // A call: the short card when they said they are in danger; every number once the wait is long.
    el.dangerCall.textContent = "";
    el.dangerCall.hidden = !dangerShown || longWait;
    if (dangerShown && !longWait) {
      el.dangerCall.append(dangerCard(true, "call"));
    }
    el.callEmergency.textContent = "";
    if (longWait) {
      el.callEmergency.append(dangerCard(false, "wait"));
    }
    el.dangerStart.textContent = "";
    el.dangerStart.hidden = !startShown;
    if (startShown) {
      el.dangerStart.append(dangerCard());
    }
    el.dangerChat.textContent = "";
    el.dangerChat.hidden = !dangerShown;
    if (dangerShown) {
      el.dangerChat.append(dangerCard(true));
    }
  }

  function openEmergency() {
    renderEmergency(el.dialogList);
    if (typeof el.dialog.showModal === "function") {
      if (!el.dialog.open) {
        el.dialog.showModal();
      }
    } else {
      el.dialog.setAttribute("open", "");
    }
    const first = el.dialogList.querySelector("a");
    focusOn(first || el.dialogClose);
  }

  function closeEmergency() {
    if (typeof el.dialog.close === "function") {
      el.dialog.close();
    } else {
      el.dialog.removeAttribute("open");
    }
    focusOn(el.emergencyButton);
  }

  /* ------------------------------------------------------------------ quick exit */

  function quickExit() {
    if (exiting) {
      return;
    }
    exiting = true;
    document.documentElement.classList.add("leaving"); // nothing of the chat stays on screen
    document.title = "\u00a0";
    stopRinging();
    try {
      chat.quickExit(); // ends the chat on the node; forgets the resume token
    } catch (err) {
      /* leave anyway */
    }
    try {
      call.quickExit(); // hangs up a call or a call-back request the same way
    } catch (err) {
      /* leave anyway */
    }
    try {
      window.sessionStorage.clear();
    } catch (err) {
      /* blocked storage */
    }
    try {
      window.localStorage.clear();
    } catch (err) {
      /* blocked storage */
    }
    const leave = () => {
      conn.close();
      try {
        // The chat's own history entry becomes the neutral page, so Back cannot return to the chat.
        window.history.replaceState(null, "", EXIT_URL);
      } catch (err) {
        /* go anyway */
      }
      window.location.replace(EXIT_URL);
    };
    conn.drain(250).then(leave, leave);
  }

  function onKey(event) {
    if (event.key !== "Escape" || event.isComposing) {
      return;
    }
    const now = Date.now();
    if (now - lastEsc <= ESC_WINDOW_MS) {
      event.preventDefault();
      quickExit();
    }
    lastEsc = now;
  }

  /* ------------------------------------------------------------------ sound */

  let audio = null;

  function unlockAudio() {
    try {
      if (!audio) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (Ctx) {
          audio = new Ctx();
        }
      }
      if (audio && audio.state === "suspended") {
        audio.resume().catch(() => {});
      }
    } catch (err) {
      audio = null;
    }
  }

  /** A soft two-note chime, made here so nothing is loaded from anywhere. */
  function chime() {
    unlockAudio();
    if (!audio) {
      return;
    }
    try {
      const start = audio.currentTime + 0.02;
      [659.25, 880].forEach((freq, i) => {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        const at = start + i * 0.2;
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.35, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.7);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(at);
        osc.stop(at + 0.75);
      });
    } catch (err) {
      /* no sound is not fatal: the text and vibration still tell */
    }
  }

  function buzz() {
    try {
      if (typeof navigator.vibrate === "function") {
        navigator.vibrate([200, 100, 200]);
      }
    } catch (err) {
      /* not supported */
    }
  }

  /** One ring of a phone: two short bursts of a two-tone bell, made here (no sound files). */
  function ringOnce() {
    unlockAudio();
    if (!audio) {
      return;
    }
    try {
      const start = audio.currentTime + 0.02;
      for (const offset of [0, 0.55]) {
        for (const freq of [440, 480]) {
          const osc = audio.createOscillator();
          const gain = audio.createGain();
          const at = start + offset;
          osc.type = "sine";
          osc.frequency.value = freq;
          gain.gain.setValueAtTime(0.0001, at);
          gain.gain.exponentialRampToValueAtTime(0.25, at + 0.03);
          gain.gain.setValueAtTime(0.25, at + 0.35);
          gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.42);
          osc.connect(gain);
          gain.connect(audio.destination);
          osc.start(at);
          osc.stop(at + 0.45);
        }
      }
    } catch (err) {
      /* no sound: the big button and the vibration still tell */
    }
  }

  /** A call-back rings this page: sound and vibration every few seconds until it stops. */
  function startRinging() {
    if (ringTimer) {
      return;
    }
    const once = () => {
      ringOnce();
      try {
        if (typeof navigator.vibrate === "function") {
          navigator.vibrate([400, 200, 400]);
        }
      } catch (err) {
        /* not supported */
      }
    };
    once();
    ringTimer = window.setInterval(once, RING_EVERY_MS);
  }

  function stopRinging() {
    if (!ringTimer) {
      return;
    }
    window.clearInterval(ringTimer);
    ringTimer = 0;
    try {
      if (typeof navigator.vibrate === "function") {
        navigator.vibrate(0);
      }
    } catch (err) {
      /* not supported */
    }
  }

  /* ------------------------------------------------------------------ status (before a chat) */

  async function loadStatus() {
    const result = await api.getJSON("/api/chat/status");
    if (result.status === 200 && result.data && typeof result.data === "object") {
      status = result.data;
      statusFailed = false;
    } else {
      statusFailed = true;
    }
    renderDangerCards();
    renderStartInfo();
    renderTopics();
    renderLettersView();
    renderStartMode();
    return status;
  }

  function estimateText(estimate) {
    if (!Array.isArray(estimate) || estimate.length !== 2 ||
        !Number.isFinite(estimate[0]) || !Number.isFinite(estimate[1])) {
      return t("estimateUnknown");
    }
    const low = Math.max(0, Math.round(estimate[0]));
    const high = Math.max(low, Math.round(estimate[1]));
    return low === 0 ? t("estimateUnder", { high: Math.max(1, high) }) : t("estimateRange", { low: low, high: high });
  }

  function renderStartInfo() {
    if (statusFailed && !status) {
      say(el.startInfo, t("statusFailed"));
      return;
    }
    if (!status) {
      say(el.startInfo, "");
      return;
    }
    if (!status.open) {
      say(el.startInfo, t("closedNow"));
      return;
    }
    const onDuty = Number(status.on_duty) || 0;
    const waitingCount = Number(status.waiting) || 0;
    const parts = [];
    if (onDuty > 0) {
      parts.push(onDuty === 1 ? t("onDuty1") : t("onDutyN", { n: onDuty }));
    }
    parts.push(waitingCount === 0 ? t("waiting0") : waitingCount === 1 ? t("waiting1") : t("waitingN", { n: waitingCount }));
    if (waitingCount > 0 || Array.isArray(status.estimate)) {
      parts.push(estimateText(status.estimate));
    }
    say(el.startInfo, parts.join(" "));
  }

  function topics() {
    return status && Array.isArray(status.topics) ? status.topics.filter((x) => typeof x === "string") : [];
  }

  let topicsShown = null; // what the topic controls were built from: rebuild only on a change

  function renderTopics() {
    const signature = lang + "\n" + topics().join("\n");
    if (signature === topicsShown) {
      return; // rebuilding would take focus and the open <select> away from the citizen
    }
    topicsShown = signature;
    const chosen = (document.querySelector("input[name=topic]:checked") || {}).value;
    el.topicList.textContent = "";
    topics().forEach((topic, i) => {
      const id = "topic-" + i;
      const label = make("label", "choice");
      label.htmlFor = id;
      const input = make("input");
      input.type = "radio";
      input.name = "topic";
      input.id = id;
      input.value = topic;
      input.checked = topic === chosen;
      label.append(input, make("span", null, topic));
      el.topicList.append(label);
    });
    $("topic-field").hidden = topics().length === 0;
    const letterChosen = el.letterTopic.value;
    el.letterTopic.textContent = "";
    const none = make("option", null, t("letterNoTopic"));
    none.value = "";
    el.letterTopic.append(none);
    for (const topic of topics()) {
      const option = make("option", null, topic);
      option.value = topic;
      el.letterTopic.append(option);
    }
    el.letterTopic.value = topics().includes(letterChosen) ? letterChosen : "";
  }

  function renderLettersView() {
    const open = Boolean(status && status.open);
    const closedNow = lettersClosed && !open;
    say(el.lettersTitle, closedNow ? t("lettersTitleClosed") : t("lettersTitle"));
    el.closedNotice.hidden = !closedNow;
    const outOfHours = Boolean(status && status.in_hours === false);
    const hours = status && typeof status.hours === "string" ? status.hours : "";
    const away = status && typeof status.out_of_hours === "string" ? status.out_of_hours : "";
    say(el.closedHours, outOfHours && away ? away : hours);
    const next = outOfHours && status && typeof status.next_open === "number" ? status.next_open : null;
    say(el.closedNext, next ? t("nextOpen", { when: whenText(next) }) : "");
    el.closedNext.hidden = !next;
    el.closedCallback.hidden = !(closedNow && callsOn());
    el.lettersToStart.hidden = !open;
    say(el.lettersToStart, lettersClosed && open ? t("toChatOpen") : t("toChat"));
  }

  /** After loading, or after a chat: the start form when someone is on duty, else the letterbox. */
  async function showEntry(focus) {
    await loadStatus();
    if (status && !status.open) {
      openLetters(true, focus);
    } else {
      openStart(focus);
    }
  }

  /** The start view: "all" (write, call, call-back) or "callback" (only a call-back: nobody on duty). */
  function openStart(focus, mode) {
    startMode = mode === "callback" ? "callback" : "all";
    callPanel = startMode === "callback" ? "callback" : null;
    resetStartForm();
    renderStartMode();
    showView("start", focus ? el.startTitle : null);
  }

  /* ------------------------------------------------------------------ calls: before the call */

  function callsOn() {
    return Boolean(status && status.calls === true);
  }

  /** "i dag", "i morgen" or the name of the day. */
  function dayWord(ts) {
    const when = new Date(ts * 1000);
    const today = new Date();
    const days = Math.round((new Date(when.getFullYear(), when.getMonth(), when.getDate()) -
                             new Date(today.getFullYear(), today.getMonth(), today.getDate())) / 86400000);
    if (days <= 0) {
      return t("today");
    }
    if (days === 1) {
      return t("tomorrow");
    }
    return when.toLocaleDateString(lang === "da" ? "da-DK" : "en-GB", { weekday: "long" });
  }

  /** "i dag kl. 18.00", "i morgen kl. 09.00", "mandag kl. 18.00". */
  function whenText(ts) {
    return t("dayAt", { day: dayWord(ts), time: clock(ts) });
  }

  /** A call-back window in words: "i dag mellem kl. 18.00 og 22.00". */
  function windowText(win) {
    const from = Math.max(Number(win[0]) || 0, Date.now() / 1000);
    return t("windowRange", { day: dayWord(from), from: clock(from), to: clock(Number(win[1]) || from) });
  }

  /**
   * The call-back windows to offer now, in the browser's own time: within the hour (when someone is
   * on duty or the centre is open), "when we open" (when closed), what is left of today's
   * morning, afternoon and evening, and tomorrow morning and evening. Past windows are not offered,
   * nor windows with less than half an hour left. Times are Unix seconds.
   */
  function callbackWindows() {
    const now = Date.now() / 1000;
    const list = [];
    const open = Boolean(status && status.open);
    const inHours = !status || status.in_hours !== false;
    if (open || inHours) {
      list.push({ key: "soon", from: now, to: now + HOUR });
    }
    const next = status && typeof status.next_open === "number" ? status.next_open : null;
    if (!open && !inHours && next && next > now && next < now + 6 * 24 * HOUR) {
      list.push({ key: "open", from: next, to: next + 2 * HOUR, vars: { when: whenText(next) } });
    }
    const spans = [["morning", 9, 12], ["afternoon", 12, 17], ["evening", 18, 22]];
    const base = new Date();
    for (const [day, offset] of [["today", 0], ["tomorrow", 1]]) {
      for (const [part, fromHour, toHour] of spans) {
        if (day === "tomorrow" && part === "afternoon") {
          continue; // enough choices: tomorrow morning and evening
        }
        const from = new Date(base.getFullYear(), base.getMonth(), base.getDate() + offset, fromHour).getTime() / 1000;
        const to = new Date(base.getFullYear(), base.getMonth(), base.getDate() + offset, toHour).getTime() / 1000;
        const start = Math.max(from, now);
        if (to - start >= MIN_WINDOW_S) {
          list.push({ key: day + "_" + part, from: start, to: to });
        }
      }
    }
    return list.slice(0, 6);
  }

  let windowsShown = null;

  function renderWindows() {
    const list = callbackWindows();
    const signature = lang + "|" + list.map((w) => w.key + (w.vars ? w.vars.when : "")).join(",");
    if (signature === windowsShown) {
      return;
    }
    windowsShown = signature;
    const chosen = (document.querySelector("input[name=cb-window]:checked") || {}).value;
    el.windowList.textContent = "";
    for (const w of list) {
      const id = "cb-window-" + w.key;
      const label = make("label", "choice");
      label.htmlFor = id;
      const input = make("input");
      input.type = "radio";
      input.name = "cb-window";
      input.id = id;
      input.value = w.key;
      input.checked = w.key === chosen;
      label.append(input, make("span", null, t("win_" + w.key, w.vars)));
      el.windowList.append(label);
    }
    if (!list.length) {
      el.windowList.append(make("p", "hint", t("windowNone")));
    }
    el.callbackSend.disabled = !list.length;
  }

  function renderStartMode() {
    const callback = startMode === "callback";
    const calls = callsOn();
    say(el.startTitle, callback ? t("callbackTitle") : t("startTitle"));
    say(el.startLead, callback ? t("callbackLead") : calls ? t("startLeadCalls") : t("startLead"));
    el.startButton.hidden = callback;
    el.callWays.hidden = !calls;
    el.callWaysLead.hidden = callback;
    el.callButton.hidden = callback;
    el.callbackButton.hidden = callback;
    el.callPanel.hidden = callPanel !== "call";
    el.callbackPanel.hidden = callPanel !== "callback";
    el.callButton.setAttribute("aria-expanded", callPanel === "call" ? "true" : "false");
    el.callbackButton.setAttribute("aria-expanded", callPanel === "callback" ? "true" : "false");
    if (callPanel === "callback") {
      renderWindows();
    }
  }

  function toggleCallPanel(which) {
    callPanel = callPanel === which ? null : which;
    say(el.callbackError, "");
    say(el.windowError, "");
    renderStartMode();
    if (callPanel === "call") {
      focusOn(el.callVideo);
    } else if (callPanel === "callback") {
      const first = el.windowList.querySelector("input");
      focusOn(first || el.callbackSend);
    }
  }

  /** The answers every way of starting needs (danger, topic, name), or null after saying what is missing. */
  function startFields() {
    say(el.startError, "");
    say(el.dangerError, "");
    el.name.removeAttribute("aria-invalid");
    if (!el.dangerYes.checked && !el.dangerNo.checked) {
      say(el.dangerError, t("dangerMissing"));
      focusOn(el.dangerYes);
      return null;
    }
    unlockAudio(); // a tap: the browser lets us play sounds later
    const danger = el.dangerYes.checked;
    dangerShown = danger;
    saveUi();
    const topicInput = document.querySelector("input[name=topic]:checked");
    const name = el.name.value.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 40);
    return { danger: danger, name: name || null, topic: topicInput ? topicInput.value : null, lang: lang };
  }

  function setCallBusy(busy, button, busyText) {
    starting = busy;
    for (const b of [el.startButton, el.callVideo, el.callAudio, el.callbackSend]) {
      b.disabled = busy;
    }
    if (busy) {
      button.dataset.label = button.textContent;
      button.textContent = busyText;
      el.startForm.setAttribute("aria-busy", "true");
    } else {
      el.startForm.removeAttribute("aria-busy");
      for (const b of [el.callVideo, el.callAudio, el.callbackSend]) {
        if (b.dataset.label) {
          b.textContent = b.dataset.label;
          delete b.dataset.label;
        }
      }
      el.callbackSend.disabled = windowsShown !== null && !el.windowList.querySelector("input");
    }
  }

  /** A request on a socket still tied to a conversation that just ended goes again on a fresh one. */
  function freshSocket(send) {
    return send().catch((err) => {
      if (err.code !== "already_in_chat" && err.code !== "already_in_call") {
        throw err;
      }
      return conn.reconnect().then(send);
    });
  }

  function callError(err, where) {
    if (err.code === "closed") {
      status = Object.assign({}, status || {}, { open: false });
      openLetters(true, true);
      loadStatus();
      return;
    }
    if (err.code === "calls_off") {
      status = Object.assign({}, status || {}, { calls: false });
      callPanel = null;
      renderStartMode();
      say(el.startError, t("callsOff"));
      return;
    }
    if (err.code === "bad_window") {
      windowsShown = null;
      renderWindows();
      say(where, t("windowGone"));
      return;
    }
    say(where, errorText(err));
    if (err.code === "bad_name") {
      el.name.setAttribute("aria-invalid", "true");
      focusOn(el.name);
    } else if (err.code === "bad_topic") {
      loadStatus();
    }
  }

  function startCall(media) {
    if (starting) {
      return;
    }
    const fields = startFields();
    if (!fields) {
      return;
    }
    fields.media = media;
    setCallBusy(true, media === "audio" ? el.callAudio : el.callVideo, t("calling"));
    freshSocket(() => call.start(fields)).then((reply) => {
      setCallBusy(false);
      if (reply === null && view !== "call") {
        say(el.startError, t("tooSlow"));
      }
    }, (err) => {
      setCallBusy(false);
      callError(err, el.startError);
    });
  }

  function requestCallback() {
    if (starting) {
      return;
    }
    say(el.windowError, "");
    say(el.callbackError, "");
    const fields = startFields();
    if (!fields) {
      return;
    }
    const chosen = document.querySelector("input[name=cb-window]:checked");
    const found = chosen ? callbackWindows().find((w) => w.key === chosen.value) : null;
    if (!found) {
      windowsShown = null;
      renderWindows();
      say(el.windowError, chosen ? t("windowGone") : t("windowMissing"));
      focusOn(el.windowList.querySelector("input") || el.callbackSend);
      return;
    }
    fields.media = el.cbVideo.checked ? "video" : "audio";
    fields.from = found.from;
    fields.to = found.to;
    setCallBusy(true, el.callbackSend, t("calling"));
    freshSocket(() => call.schedule(fields)).then((reply) => {
      setCallBusy(false);
      if (reply === null && view !== "call") {
        say(el.callbackError, t("tooSlow"));
      }
    }, (err) => {
      setCallBusy(false);
      callError(err, el.callbackError);
    });
  }

  function openLetters(closed, focus) {
    lettersClosed = Boolean(closed);
    renderLettersView();
    showView("letters", focus ? el.lettersTitle : null);
  }

  function resetStartForm() {
    starting = false;
    setCallBusy(false);
    say(el.callbackError, "");
    say(el.windowError, "");
    el.startButton.disabled = false;
    el.startButton.textContent = t("startButton");
    el.startForm.removeAttribute("aria-busy");
    say(el.startError, "");
    say(el.dangerError, "");
  }

  window.setInterval(() => {
    if (!exiting && (view === "start" || view === "letters")) {
      loadStatus();
    }
  }, STATUS_POLL_MS);

  /* ------------------------------------------------------------------ starting a chat */

  function errorText(err) {
    switch (err && err.code) {
      case "offline":
        return t("offline");
      case "rate_limited":
        return t("tooFast");
      case "closed":
        return t("closedStart");
      case "blocked":
        return t("blockedStart");
      case "bad_name":
        return t("badName");
      case "bad_topic":
        return t("badTopic");
      default:
        return t("failed");
    }
  }

  function onStartSubmit(event) {
    event.preventDefault();
    if (startMode === "callback") {
      requestCallback(); // Enter in a field: the only way on here is the call-back
      return;
    }
    if (starting) {
      return;
    }
    const fields = startFields();
    if (!fields) {
      return;
    }
    starting = true;
    el.startButton.disabled = true;
    el.startButton.textContent = t("starting");
    el.startForm.setAttribute("aria-busy", "true");
    // The node may still tie this socket to a conversation that just ended: then a fresh one.
    freshSocket(() => chat.start(fields))
      .then((reply) => {
        if (reply === null && view !== "chat") {
          resetStartForm();
          say(el.startError, t("tooSlow"));
        }
      }, (err) => {
        resetStartForm();
        if (err.code === "closed") {
          status = Object.assign({}, status || {}, { open: false });
          openLetters(true, true);
          return;
        }
        say(el.startError, errorText(err));
        if (err.code === "bad_name") {
          el.name.setAttribute("aria-invalid", "true");
          focusOn(el.name);
        } else if (err.code === "bad_topic") {
          loadStatus();
        }
      });
  }


  /* ------------------------------------------------------------------ calls: the call view */

  function resetCall() {
    stopRinging();
    callState = null;
    callOver = null;
    callStaff = null;
    toRoom = false;
    say(el.callStatus, "");
    el.callStatus.className = "status is-ok";
    for (const button of [el.callAnswer, el.callSwitch, el.callHangup, el.callToLetters]) {
      button.disabled = false;
    }
    say(el.callAnswer, t("answer"));
    say(el.callSwitch, t("switchToChat"));
  }

  function openCall(focus) {
    showView("call", focus ? el.callTitle : null);
    renderCall();
  }

  /** Where the call is now: "waiting", "scheduled", "ringing", "connected", "over" or null (resuming). */
  function callPhase() {
    if (callOver) {
      return "over";
    }
    return (callState && callState.state) || call.state || null;
  }

  function renderCall() {
    const phase = callPhase();
    const titles = { waiting: "callTitleWaiting", scheduled: "callTitleScheduled", ringing: "callTitleRinging",
                     connected: "callTitleConnected", over: "callTitleOver" };
    say(el.callTitle, t(titles[phase] || "callTitleWaiting"));
    if (call.pseudonym) {
      say(el.callWho, t(call.media === "audio" ? "callWhoAudio" : "callWhoVideo", { pseudonym: call.pseudonym }));
    } else {
      say(el.callWho, call.hasCall() && !phase ? t("callResuming") : "");
    }

    el.callRing.hidden = phase !== "ringing";
    say(el.callRingWho, callStaff ? t("ringWho", { name: callStaff }) : t("ringWhoAnon"));

    el.callQueue.hidden = phase !== "waiting";
    if (phase === "waiting") {
      const position = callState && Number.isInteger(callState.position) ? callState.position : null;
      say(el.callPosition, position === null ? t("queueUnknown") : position <= 1 ? t("queueFirst")
        : t("queueN", { n: position }));
      say(el.callEstimate, estimateText(callState ? callState.estimate : null));
      const closed = Boolean(callState && callState.open === false);
      el.callClosed.hidden = !closed;
      say(el.callClosed, closed ? t("callClosed") : "");
    }

    el.callWindowBox.hidden = phase !== "scheduled";
    if (phase === "scheduled") {
      say(el.callWindow, call.window ? t("windowText", { when: windowText(call.window) }) : t("keepOpen"));
    }

    el.callLetterbox.hidden = !(phase === "waiting" && callState && callState.letterbox === true);

    el.callRoomLink.hidden = !(phase === "connected" && !toRoom);
    if (phase === "connected" && !toRoom) {
      say(el.callStatus, t("connectedElsewhere"));
    }

    el.callOverBox.hidden = phase !== "over";
    if (phase === "over") {
      renderCallOver();
    }
    el.callActions.hidden = phase === "over";
    el.callSwitch.hidden = !(phase === "waiting" || phase === "scheduled");
    renderDangerCards();
  }

  function renderCallOver() {
    const declined = Boolean(callOver.declined);
    say(el.callOverTitle, declined ? t("declinedTitle") : t("callTitleOver"));
    const reason = callOver.reason;
    let text;
    if (declined) {
      text = callOver.message ? t("declinedText") : t("declinedNoText");
    } else if (["left", "ended", "lost", "declined", "unanswered", "timeout", "gone"].includes(reason)) {
      text = t("call_end_" + reason);
    } else {
      text = t("call_end_other");
    }
    say(el.callOverReason, text);
    el.callOverMessage.hidden = !(declined && callOver.message);
    say(el.callOverMessage, declined ? callOver.message || "" : "");
    el.callOverChat.hidden = !(status && status.open);
    el.callOverCallback.hidden = !callsOn();
  }

  /** The call is over (ended, declined, hung up): say why, and offer chat, call-back and the letterbox. */
  function showCallOver(info) {
    const first = !callOver;
    stopRinging();
    callOver = Object.assign({}, info);
    say(el.callStatus, "");
    if (view !== "call") {
      showView("call");
    }
    renderCall();
    if (first) {
      focusOn(el.callOverBox);
    }
    loadStatus().then(() => {
      if (callOver && view === "call") {
        renderCallOver();
      }
    });
  }

  function callActionFailed(err) {
    el.callStatus.className = "status is-error";
    say(el.callStatus, err ? errorText(err) : t("tooSlow"));
  }

  function answerCall() {
    unlockAudio();
    stopRinging();
    el.callAnswer.disabled = true;
    say(el.callAnswer, t("answering"));
    call.answer().then((reply) => {
      if (reply === null && !toRoom) {
        el.callAnswer.disabled = false;
        say(el.callAnswer, t("answer"));
        callActionFailed(null);
      }
    }, (err) => {
      el.callAnswer.disabled = false;
      say(el.callAnswer, t("answer"));
      callActionFailed(err);
    });
  }

  function hangUp(then) {
    stopRinging();
    for (const button of [el.callHangup, el.callSwitch, el.callAnswer, el.callToLetters]) {
      button.disabled = true;
    }
    call.hangup().catch(() => null).then(() => {
      if (then) {
        then();
      } else if (!callOver || callOver.reason !== "left") {
        showCallOver({ reason: "left" });
      }
    });
  }

  function switchToChat() {
    el.callSwitch.disabled = true;
    say(el.callSwitch, t("switching"));
    call.toChat().then((reply) => {
      if (reply === null && view === "call") {
        el.callSwitch.disabled = false;
        say(el.callSwitch, t("switchToChat"));
        callActionFailed(null);
      }
    }, (err) => {
      el.callSwitch.disabled = false;
      say(el.callSwitch, t("switchToChat"));
      callActionFailed(err);
    });
  }

  function afterCall(next) {
    resetCall();
    loadStatus().then(() => {
      if (next === "chat") {
        if (status && !status.open) {
          openLetters(true, true);
        } else {
          openStart(true);
        }
      } else if (next === "callback") {
        openStart(true, "callback");
      } else {
        openLetters(Boolean(status && !status.open), true);
      }
    });
  }

  /* ------------------------------------------------------------------ the conversation */

  function resetConversation() {
    el.messages.textContent = "";
    rendered.clear();
    pendingEls.clear();
    pseudonym = null;
    staffName = null;
    chatState = null;
    ended = null;
    say(el.joined, "");
    say(el.typing, "");
    say(el.sendError, "");
    el.text.value = "";
    el.endedBox.hidden = true;
    el.sendForm.hidden = false;
    el.leaveRow.hidden = false;
    el.leaveConfirm.hidden = true;
    el.leaveButton.hidden = false;
  }

  function openChat(focus) {
    showView("chat", focus ? el.chatTitle : null);
    renderDangerCards();
    renderChatHeader();
    renderQueue();
  }

  function renderChatHeader() {
    if (ended) {
      say(el.chatWho, pseudonym ? t("whoWaiting", { pseudonym: pseudonym }) : "");
    } else if (!pseudonym) {
      say(el.chatWho, chat.hasChat() ? t("resuming") : "");
    } else if (chatState && chatState.state === "active") {
      say(el.chatWho, t("whoActive", { staff: staffName || t("staffFallback"), pseudonym: pseudonym }));
    } else {
      say(el.chatWho, t("whoWaiting", { pseudonym: pseudonym }));
    }
  }

  function renderQueue() {
    const waiting = !ended && chatState && chatState.state === "waiting";
    el.queueBox.hidden = !waiting;
    if (!waiting) {
      return;
    }
    const position = Number.isInteger(chatState.position) ? chatState.position : null;
    say(el.queuePosition, position === null ? t("queueUnknown") : position <= 1 ? t("queueFirst")
      : t("queueN", { n: position }));
    say(el.queueEstimate, estimateText(chatState.estimate));
    const closed = chatState.open === false;
    el.queueClosed.hidden = !closed;
    const hours = status && typeof status.hours === "string" ? " " + status.hours : "";
    say(el.queueClosed, closed ? t("queueClosed") + hours : "");
  }

  function renderEnded() {
    if (!ended) {
      return;
    }
    const reason = ended.reason;
    let text;
    if (reason === "ended") {
      text = staffName ? t("end_ended", { staff: staffName }) : t("end_ended_anon");
    } else if (["left", "quick_exit", "blocked", "lost", "timeout", "gone"].includes(reason)) {
      text = t("end_" + reason);
    } else {
      text = t("end_other");
    }
    say(el.endedReason, text);
  }

  function showEnded(reason) {
    const first = !ended;
    ended = { reason: reason || (ended && ended.reason) || null };
    window.clearTimeout(staffTypingTimer);
    say(el.typing, "");
    el.sendForm.hidden = true;
    el.leaveRow.hidden = true;
    el.queueBox.hidden = true;
    el.endedBox.hidden = false;
    renderEnded();
    renderChatHeader();
    if (view !== "chat") {
      showView("chat");
    }
    if (first) {
      focusOn(el.endedBox);
    }
  }

  /* messages */

  function whoLabel(li) {
    const from = li.dataset.from;
    if (from === "citizen") {
      return t("you");
    }
    if (from === "staff") {
      return li.dataset.author || t("staffFallback");
    }
    return t("system");
  }

  function refreshMessage(li) {
    const meta = li.querySelector(".msg-meta");
    if (meta) {
      meta.textContent = whoLabel(li) + " · " + clock(Number(li.dataset.ts));
    }
    const text = li.querySelector(".msg-text");
    if (li.classList.contains("msg-deleted")) {
      text.textContent = li.dataset.from === "citizen" ? t("deletedOwn") : t("deleted");
    }
    const state = li.querySelector(".msg-state");
    if (state) {
      state.textContent = stateText(li);
    }
    const del = li.querySelector(".msg-delete");
    if (del) {
      del.textContent = t("deleteButton");
      del.setAttribute("aria-label", t("deleteLabel", { text: snippet(li) }));
    }
  }

  function stateText(li) {
    if (li.dataset.rejected) {
      return t("rejected");
    }
    if (li.dataset.id) {
      return t("sent");
    }
    return conn.ready ? t("sending") : t("offlineQueued");
  }

  function snippet(li) {
    const text = li.dataset.text || "";
    return text.length > 40 ? text.slice(0, 40) + "…" : text;
  }

  function messageElement(message) {
    const li = make("li", "msg msg-" + (["citizen", "staff", "system"].includes(message.from) ? message.from : "system"));
    li.dataset.from = message.from;
    li.dataset.ts = String(typeof message.ts === "number" ? message.ts : Date.now() / 1000);
    if (message.author) {
      li.dataset.author = message.author;
    }
    li.dataset.text = message.text || "";
    li.append(make("span", "msg-meta"), make("p", "msg-text", message.text || ""));
    if (message.from === "citizen") {
      const actions = make("div", "msg-actions");
      actions.append(make("span", "msg-state"));
      li.append(actions);
    }
    if (typeof message.id === "number") {
      setMessageId(li, message.id);
    }
    if (message.deleted) {
      markDeleted(li);
    }
    refreshMessage(li);
    return li;
  }

  function setMessageId(li, id) {
    li.dataset.id = String(id);
    rendered.set(id, li);
    if (li.dataset.from === "citizen" && !li.classList.contains("msg-deleted") && !li.querySelector(".msg-delete")) {
      const del = make("button", "msg-button msg-delete");
      del.type = "button";
      del.addEventListener("click", () => askDelete(li));
      li.querySelector(".msg-actions").append(del);
    }
    refreshMessage(li);
  }

  function append(li) {
    const stick = nearBottom();
    el.messages.append(li);
    if (stick) {
      window.scrollTo(0, document.documentElement.scrollHeight);
    }
  }

  function addMessage(message) {
    if (!message || typeof message !== "object") {
      return;
    }
    if (typeof message.id === "number" && rendered.has(message.id)) {
      const li = rendered.get(message.id);
      if (message.deleted) {
        markDeleted(li);
      }
      return;
    }
    append(messageElement(message));
  }

  function addPending(clientId, text, ts) {
    const li = messageElement({ from: "citizen", text: text, ts: ts });
    li.dataset.client = clientId;
    pendingEls.set(clientId, li);
    append(li);
  }

  function markDeleted(li) {
    const hadFocus = li.contains(document.activeElement);
    li.classList.add("msg-deleted");
    li.dataset.text = "";
    const actions = li.querySelector(".msg-actions");
    if (actions) {
      actions.remove();
    }
    refreshMessage(li);
    if (hadFocus) {
      focusOn(el.sendForm.hidden ? el.chatTitle : el.text);
    }
  }

  function askDelete(li) {
    const actions = li.querySelector(".msg-actions");
    if (!actions) {
      return;
    }
    actions.textContent = "";
    const question = make("span", "msg-state", t("deleteQuestion"));
    const yes = make("button", "msg-button msg-button-danger msg-delete-yes", t("deleteYes"));
    yes.type = "button";
    const no = make("button", "msg-button msg-delete-no", t("deleteNo"));
    no.type = "button";
    actions.append(question, yes, no);
    yes.addEventListener("click", () => {
      yes.disabled = true;
      const id = Number(li.dataset.id);
      chat.deleteMessage(id).then(() => {
        markDeleted(li);
      }, () => {
        restoreActions(li);
        const state = li.querySelector(".msg-state");
        say(state, t("deleteFailed"));
      });
    });
    no.addEventListener("click", () => {
      restoreActions(li);
      focusOn(li.querySelector(".msg-delete"));
    });
    focusOn(yes);
  }

  function restoreActions(li) {
    const actions = li.querySelector(".msg-actions");
    if (!actions) {
      return;
    }
    actions.textContent = "";
    actions.append(make("span", "msg-state"));
    const id = Number(li.dataset.id);
    li.dataset.id = "";
    setMessageId(li, id);
  }

  function refreshPendingStates() {
    for (const li of pendingEls.values()) {
      refreshMessage(li);
    }
  }

  /* writing */

  function onSendSubmit(event) {
    event.preventDefault();
    say(el.sendError, "");
    const text = el.text.value.replace(/\r\n?/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").trim();
    if (!text) {
      say(el.sendError, t("textEmpty"));
      el.text.setAttribute("aria-invalid", "true");
      focusOn(el.text);
      return;
    }
    el.text.removeAttribute("aria-invalid");
    stopTyping();
    const ts = Date.now() / 1000;
    const clientId = chat.send(text.slice(0, 2000));
    addPending(clientId, text.slice(0, 2000), ts);
    el.text.value = "";
    focusOn(el.text);
  }

  // On a phone, Enter makes a new line and the Send button sends (as in most phone chat apps);
  // with a keyboard and mouse, Enter sends and Shift+Enter makes a new line.
  const touchFirst = window.matchMedia("(pointer: coarse)").matches;

  function onTextKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touchFirst) {
      event.preventDefault();
      el.sendForm.requestSubmit();
    }
  }

  function onTextInput() {
    if (!chatState || chatState.state !== "active") {
      return;
    }
    const now = Date.now();
    if (now - typingSentAt > 3000) {
      typingSentAt = now;
      chat.typing(true);
    }
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(stopTyping, 5000);
  }

  function stopTyping() {
    window.clearTimeout(typingTimer);
    if (typingSentAt) {
      typingSentAt = 0;
      chat.typing(false);
    }
  }

  /* leaving */

  function askLeave() {
    el.leaveButton.hidden = true;
    el.leaveConfirm.hidden = false;
    focusOn(el.leaveYes);
  }

  function cancelLeave() {
    el.leaveConfirm.hidden = true;
    el.leaveButton.hidden = false;
    focusOn(el.leaveButton);
  }

  function confirmLeave() {
    el.leaveYes.disabled = true;
    stopTyping();
    chat.leave().catch(() => {}).finally(() => {
      el.leaveYes.disabled = false;
      showEnded(ended && ended.reason ? ended.reason : "left");
    });
  }

  /* ------------------------------------------------------------------ letterbox */

  function onLetterSubmit(event) {
    event.preventDefault();
    say(el.letterError, "");
    const text = el.letterText.value.replace(/\r\n?/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").trim();
    if (!text) {
      say(el.letterError, t("letterEmpty"));
      el.letterText.setAttribute("aria-invalid", "true");
      focusOn(el.letterText);
      return;
    }
    el.letterText.removeAttribute("aria-invalid");
    el.letterButton.disabled = true;
    el.letterButton.textContent = t("letterSending");
    const done = () => {
      el.letterButton.disabled = false;
      el.letterButton.textContent = t("letterButton");
    };
    chat.sendLetter(text.slice(0, 4000), el.letterTopic.value || null, lang).then((reply) => {
      done();
      if (reply === null && !letterCode) {
        say(el.letterError, t("tooSlow"));
      }
    }, (err) => {
      done();
      say(el.letterError, errorText(err));
    });
  }

  function showCode(code) {
    letterCode = String(code);
    el.code.textContent = "";
    const shown = make("span", "code-text", letterCode);
    shown.setAttribute("aria-hidden", "true");
    // Screen readers get it one character at a time, group by group: "F 8 8 5, 7 A F 8, …".
    const spoken = make("span", "sr-only", letterCode.split("-").map((g) => g.split("").join(" ")).join(", "));
    el.code.append(shown, spoken);
    el.codeBox.hidden = false;
    el.letterForm.hidden = true;
    el.letterText.value = "";
    say(el.copyStatus, "");
    focusOn(el.codeBox);
  }

  function copyCode() {
    if (!letterCode || !navigator.clipboard) {
      say(el.copyStatus, t("copyFailed"));
      return;
    }
    navigator.clipboard.writeText(letterCode).then(() => say(el.copyStatus, t("copied")),
                                                   () => say(el.copyStatus, t("copyFailed")));
  }

  function onReadSubmit(event) {
    event.preventDefault();
    say(el.readError, "");
    const code = el.readCode.value.trim().toUpperCase();
    if (!code) {
      say(el.readError, t("readEmpty"));
      el.readCode.setAttribute("aria-invalid", "true");
      focusOn(el.readCode);
      return;
    }
    el.readCode.removeAttribute("aria-invalid");
    el.readButton.disabled = true;
    chat.readLetter(code).then((reply) => {
      el.readButton.disabled = false;
      if (reply === null && !answer) {
        say(el.readError, t("tooSlow"));
      }
    }, (err) => {
      el.readButton.disabled = false;
      if (err.code === "unknown_code" || err.code === "bad_field") {
        say(el.readError, t("readWrong"));
        el.readCode.setAttribute("aria-invalid", "true");
        focusOn(el.readCode);
      } else {
        say(el.readError, errorText(err));
      }
    });
  }

  function renderAnswer() {
    if (!answer) {
      el.answerBox.hidden = true;
      return;
    }
    const answered = answer.status === "answered";
    el.answerTitle.textContent = answered ? t("answerTitle") : t("answerWaitingTitle");
    el.answerNote.textContent = answered ? t("answerNote") : t("answerWaitingNote");
    el.answerMessages.textContent = "";
    for (const message of Array.isArray(answer.messages) ? answer.messages : []) {
      if (!message || typeof message !== "object") {
        continue;
      }
      const li = make("li", "msg msg-" + (message.from === "staff" ? "staff" : "citizen"));
      const who = message.from === "staff"
        ? (message.author ? t("replyFrom", { name: message.author }) : t("reply"))
        : t("yourLetter");
      li.append(make("span", "msg-meta", who + " · " + clock(message.ts)), make("p", "msg-text", message.text || ""));
      el.answerMessages.append(li);
    }
    el.answerBox.hidden = false;
  }

  function showAnswer(frame) {
    answer = frame;
    if (frame.status === "answered") {
      el.readCode.value = "";
    }
    renderAnswer();
    focusOn(el.answerBox);
  }

  /* ------------------------------------------------------------------ connection */

  function renderConn(state) {
    window.clearTimeout(connTimer);
    if (state === "down") {
      el.connStatus.className = "status is-error";
      say(el.connStatus, chat.hasChat() || call.hasCall() ? t("connLostKeep") : t("connLost"));
    } else if (state === "back") {
      el.connStatus.className = "status is-ok";
      say(el.connStatus, t("connBack"));
      connTimer = window.setTimeout(() => say(el.connStatus, ""), 4000);
    } else {
      say(el.connStatus, "");
    }
  }

  let downTimer = 0;

  conn.on("status", (info) => {
    if (exiting) {
      return;
    }
    if (info.state === "waiting" && !downTimer && !connWasDown) {
      // Say it only when it lasts: a quick reconnect needs no alarm.
      downTimer = window.setTimeout(() => {
        downTimer = 0;
        if (!conn.ready && !exiting && conn.state !== "closed") {
          connWasDown = true;
          renderConn("down");
        }
      }, 2500);
    }
    refreshPendingStates();
  });

  conn.on("close", (info) => {
    if (info.stopped && !exiting) {
      // The node closed this socket because the same chat was resumed in another tab.
      window.clearTimeout(connTimer);
      el.connStatus.className = "status is-error";
      el.connStatus.textContent = t("elsewhere") + " ";
      const again = make("button", "button button-secondary", t("elsewhereButton"));
      again.type = "button";
      again.addEventListener("click", () => {
        say(el.connStatus, "");
        conn.connect();
      });
      el.connStatus.append(again);
      refreshPendingStates();
    }
  });

  conn.on("welcome", () => {
    window.clearTimeout(downTimer);
    downTimer = 0;
    if (connWasDown) {
      connWasDown = false;
      renderConn("back");
    } else {
      window.clearTimeout(connTimer);
    }
    refreshPendingStates();
  });

  /* ------------------------------------------------------------------ chat events */

  chat.on("started", (frame) => {
    resetConversation();
    resetStartForm();
    pseudonym = frame.pseudonym || null;
    chatState = { state: frame.state || "waiting", position: null, estimate: status ? status.estimate : null,
                  open: true };
    openChat(true);
  });

  chat.on("resumed", (frame) => {
    const keepPending = chat.pendingMessages();
    el.messages.textContent = "";
    rendered.clear();
    pendingEls.clear();
    pseudonym = frame.pseudonym || pseudonym;
    staffName = frame.staff || staffName;
    if (!chatState || chatState.state !== frame.state) {
      chatState = { state: frame.state || "waiting", position: chatState ? chatState.position : null,
                    estimate: chatState ? chatState.estimate : null, open: chatState ? chatState.open : true };
    }
    for (const message of Array.isArray(frame.messages) ? frame.messages : []) {
      addMessage(message);
    }
    for (const message of keepPending) {
      addPending(message.client_id, message.text, message.ts);
    }
    if (view !== "chat") {
      openChat(false);
    } else {
      renderChatHeader();
      renderQueue();
    }
    if (frame.state === "ended") {
      showEnded(null);
    }
  });

  chat.on("state", (frame) => {
    chatState = frame;
    if (frame.state === "ended") {
      showEnded(null);
      return;
    }
    renderChatHeader();
    renderQueue();
  });

  chat.on("joined", (frame) => {
    staffName = frame.name || staffName;
    if (chatState) {
      chatState = Object.assign({}, chatState, { state: "active", position: null });
    }
    say(el.joined, t("joined", { name: frame.name || t("staffFallback") }));
    renderChatHeader();
    renderQueue();
    chime();
    buzz();
  });

  chat.on("message", (frame) => {
    if (frame.message && frame.message.from === "staff") {
      window.clearTimeout(staffTypingTimer); // they have sent what they were writing
      say(el.typing, "");
    }
    addMessage(frame.message);
  });

  chat.on("ack", (info) => {
    const li = pendingEls.get(info.client_id);
    pendingEls.delete(info.client_id);
    if (!li) {
      return;
    }
    if (info.id !== null && rendered.has(info.id) && rendered.get(info.id) !== li) {
      li.remove(); // the node's copy is on screen already
      return;
    }
    const stored = info.frame && info.frame.message;
    if (stored && typeof stored === "object" && typeof stored.ts === "number") {
      li.dataset.ts = String(stored.ts); // the node's time, like every other message
    }
    if (info.id !== null) {
      setMessageId(li, info.id);
    }
  });

  chat.on("rejected", (info) => {
    const li = pendingEls.get(info.client_id);
    pendingEls.delete(info.client_id);
    if (li) {
      li.dataset.rejected = "1";
      refreshMessage(li);
    }
  });

  chat.on("deleted", (frame) => {
    const li = rendered.get(frame.message);
    if (li) {
      markDeleted(li);
    }
  });

  chat.on("typing", (frame) => {
    window.clearTimeout(staffTypingTimer);
    if (frame.active && !ended) {
      say(el.typing, t("typing", { name: staffName || t("staffFallback") }));
      staffTypingTimer = window.setTimeout(() => say(el.typing, ""), 10000);
    } else {
      say(el.typing, "");
    }
  });

  chat.on("ended", (frame) => {
    if (!exiting) {
      showEnded(frame.reason || null);
    }
  });

  chat.on("gone", (err) => {
    if (exiting) {
      return;
    }
    if (err.code === "blocked") {
      showEnded("blocked");
    } else if (view === "chat" && el.messages.children.length) {
      showEnded("gone");
    } else {
      resetConversation();
      showEntry(false);
    }
  });

  chat.on("open", (frame) => {
    if (typeof frame.open !== "boolean") {
      return;
    }
    status = Object.assign({}, status || {}, { open: frame.open });
    if (chatState && chatState.state === "waiting") {
      chatState = Object.assign({}, chatState, { open: frame.open });
      renderQueue();
    }
    renderStartInfo();
    renderLettersView();
    if (view === "start" || view === "letters") {
      loadStatus(); // fresh figures (on duty, waiting, estimate)
    }
  });

  chat.on("letter.stored", (frame) => {
    if (frame.code) {
      showCode(frame.code);
    }
  });

  chat.on("letter.answer", (frame) => showAnswer(frame));

  chat.on("error", (err) => {
    if (exiting) {
      return;
    }
    if (err.code === "rate_limited" && view === "chat") {
      say(el.sendError, t("tooFast"));
    } else if ((err.code === "chat_ended" || err.code === "not_in_chat") && view === "chat" && !chat.hasChat()) {
      showEnded(ended ? ended.reason : null);
    }
  });


  /* ------------------------------------------------------------------ call events */

  call.on("started", (frame) => {
    resetCall();
    resetStartForm();
    callState = { state: frame.state || "waiting", position: null, open: true,
                  estimate: status && Array.isArray(status.call_estimate) ? status.call_estimate : null };
    openCall(true);
  });

  call.on("resumed", (frame) => {
    if (frame.state === "ended") {
      showCallOver({ reason: (callOver && callOver.reason) || "other" }); // call.ended says why, if it follows
      return;
    }
    callState = Object.assign({}, callState || {}, { state: frame.state || "waiting" });
    if (frame.staff) {
      callStaff = frame.staff;
    }
    if (frame.state === "ringing") {
      startRinging();
    }
    if (view !== "call") {
      openCall(false);
    } else {
      renderCall();
    }
  });

  call.on("state", (frame) => {
    callState = Object.assign({}, callState || {}, frame);
    if (frame.state === "ringing") {
      startRinging();
    } else {
      stopRinging();
      el.callAnswer.disabled = false;
      say(el.callAnswer, t("answer"));
    }
    if (view === "call" && !callOver) {
      renderCall();
    }
  });

  call.on("incoming", (frame) => {
    callStaff = frame.name || callStaff;
    callState = Object.assign({}, callState || {}, { state: "ringing" });
    el.callAnswer.disabled = false;
    say(el.callAnswer, t("answer"));
    if (view !== "call") {
      openCall(false);
    } else {
      renderCall();
    }
    startRinging();
    focusOn(el.callAnswer);
  });

  call.on("connect", (frame) => {
    stopRinging();
    callStaff = frame.staff || callStaff;
    callState = Object.assign({}, callState || {}, { state: "connected" });
    el.callStatus.className = "status is-ok";
    say(el.callStatus, callStaff ? t("connecting", { name: callStaff }) : t("connectingAnon"));
    if (typeof frame.pass !== "string" || !frame.pass) {
      renderCall();
      return;
    }
    toRoom = true;
    renderCall();
    const media = frame.media === "audio" || frame.media === "video" ? frame.media : call.media;
    const target = "/room#pass=" + encodeURIComponent(frame.pass) + "&media=" + (media === "audio" ? "audio" : "video");
    // A moment to read who answered; the pass works for a few minutes.
    window.setTimeout(() => window.location.assign(target), 300);
  });

  call.on("declined", (frame) => {
    showCallOver({ declined: true, reason: "declined",
                   message: typeof frame.message === "string" ? frame.message.trim() : "" });
  });

  call.on("ended", (frame) => {
    if (callOver && callOver.declined) {
      return; // the staff member's own words stay on screen
    }
    if (toRoom) {
      return;
    }
    showCallOver({ reason: frame.reason || "other" });
  });

  call.on("gone", () => {
    if (exiting) {
      return;
    }
    if (view === "call") {
      showCallOver({ reason: "gone" });
    } else {
      showEntry(false);
    }
  });

  call.on("switched", () => {
    const before = callState;
    resetCall();
    resetConversation();
    pseudonym = call.pseudonym || chat.pseudonym || null;
    chatState = { state: "waiting", position: before && Number.isInteger(before.position) ? before.position : null,
                  estimate: before ? before.estimate : null, open: before ? before.open !== false : true };
    openChat(true);
  });

  /* ------------------------------------------------------------------ wiring */

  el.exitButton.addEventListener("click", quickExit);
  el.dialogExit.addEventListener("click", quickExit); // the modal dialog makes the bar unreachable
  window.addEventListener("keydown", onKey, true);
  el.emergencyButton.addEventListener("click", openEmergency);
  el.dialogClose.addEventListener("click", closeEmergency);
  el.dialog.addEventListener("click", (event) => {
    if (event.target === el.dialog) {
      closeEmergency(); // a tap on the dimmed backdrop
    }
  });
  el.langButton.addEventListener("click", toggleLanguage);
  el.dangerYes.addEventListener("change", () => {
    say(el.dangerError, "");
    renderDangerCards();
  });
  el.dangerNo.addEventListener("change", () => {
    say(el.dangerError, "");
    renderDangerCards();
  });
  el.startForm.addEventListener("submit", onStartSubmit);
  el.startToLetters.addEventListener("click", () => openLetters(Boolean(status && !status.open), true));
  el.callButton.addEventListener("click", () => toggleCallPanel("call"));
  el.callbackButton.addEventListener("click", () => toggleCallPanel("callback"));
  el.callVideo.addEventListener("click", () => startCall("video"));
  el.callAudio.addEventListener("click", () => startCall("audio"));
  el.callbackSend.addEventListener("click", requestCallback);
  el.windowList.addEventListener("change", () => say(el.windowError, ""));
  el.closedCallbackButton.addEventListener("click", () => openStart(true, "callback"));
  el.callAnswer.addEventListener("click", answerCall);
  el.callHangup.addEventListener("click", () => hangUp(null));
  el.callSwitch.addEventListener("click", switchToChat);
  el.callToLetters.addEventListener("click", () => hangUp(() => afterCall("letters")));
  el.callOverChat.addEventListener("click", () => afterCall("chat"));
  el.callOverCallback.addEventListener("click", () => afterCall("callback"));
  el.callOverLetters.addEventListener("click", () => afterCall("letters"));
  el.lettersToStart.addEventListener("click", () => openStart(true));
  el.letterForm.addEventListener("submit", onLetterSubmit);
  el.copyCode.addEventListener("click", copyCode);
  el.readForm.addEventListener("submit", onReadSubmit);
  el.sendForm.addEventListener("submit", onSendSubmit);
  el.text.addEventListener("keydown", onTextKey);
  el.text.addEventListener("input", onTextInput);
  el.text.addEventListener("blur", stopTyping);
  el.leaveButton.addEventListener("click", askLeave);
  el.leaveNo.addEventListener("click", cancelLeave);
  el.leaveYes.addEventListener("click", confirmLeave);
  el.newChat.addEventListener("click", () => {
    resetConversation();
    showEntry(true);
  });
  el.endedToLetters.addEventListener("click", () => {
    resetConversation();
    loadStatus().then(() => openLetters(Boolean(status && !status.open), true));
  });
  // After a reload the browser wants a tap before it plays sound: take the first one.
  for (const type of ["pointerdown", "keydown"]) {
    window.addEventListener(type, unlockAudio, { once: true, capture: true });
  }

  /* ------------------------------------------------------------------ start */

  if (touchFirst) {
    el.text.setAttribute("enterkeyhint", "enter");
  }
  applyLanguage();
  conn.connect();
  if (chat.hasChat()) {
    resetConversation();
    for (const message of chat.pendingMessages()) {
      addPending(message.client_id, message.text, message.ts);
    }
    openChat(false);
    loadStatus();
  } else if (call.hasCall()) {
    resetCall();
    openCall(false); // "Henter dit opkald …" until call.resumed
    loadStatus();
  } else {
    showEntry(false);
  }
})();
