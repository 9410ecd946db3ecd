// Default wording per language. A site's own texts (tab, title, prompt, thanks) replace these when
// set; an empty language follows the browser's preferences among the supported ones, else English.
export interface Texts {
  tab: string;
  title: string;
  prompt: string;
  thanks: string;
  send: string;
  next: string;
  close: string;
  point: string;
  picked: string;
  pickHint: string;
  required: string;
  faces: string[]; // five, worst to best
  low: string; // NPS ends
  high: string;
  done: string; // survey thanks
}

// Fields in order: tab|title|prompt|thanks|send|next|close|point|picked|pickHint|required|faces(,)|low|high|done
const RAW: Record<string, string> = {
  en: 'Feedback|How would you rate this page?|Tell us more (optional)|Thank you for your feedback!|Send|Next|Close|Point at an element|Element selected|Click the part of the page it is about; arrow keys move, Enter picks, Esc cancels|Please answer this question|Hate,Dislike,Neutral,Like,Love|Not likely|Very likely|Thank you!',
  de: 'Feedback|Wie bewerten Sie diese Seite?|Erzählen Sie uns mehr (optional)|Danke für Ihr Feedback!|Senden|Weiter|Schließen|Auf ein Element zeigen|Element ausgewählt|Klicken Sie auf den betreffenden Teil der Seite; Pfeiltasten bewegen, Enter wählt, Esc bricht ab|Bitte beantworten Sie diese Frage|Sehr schlecht,Schlecht,Neutral,Gut,Sehr gut|Unwahrscheinlich|Sehr wahrscheinlich|Vielen Dank!',
  fr: 'Avis|Comment évaluez-vous cette page ?|Dites-nous en plus (facultatif)|Merci pour votre avis !|Envoyer|Suivant|Fermer|Désigner un élément|Élément sélectionné|Cliquez sur la partie de la page concernée ; flèches pour se déplacer, Entrée pour choisir, Échap pour annuler|Veuillez répondre à cette question|Déteste,N’aime pas,Neutre,Aime,Adore|Peu probable|Très probable|Merci !',
  es: 'Opinión|¿Cómo valoras esta página?|Cuéntanos más (opcional)|¡Gracias por tu opinión!|Enviar|Siguiente|Cerrar|Señalar un elemento|Elemento seleccionado|Haz clic en la parte de la página; flechas para moverte, Intro para elegir, Esc para cancelar|Responde a esta pregunta|Lo odio,No me gusta,Neutral,Me gusta,Me encanta|Poco probable|Muy probable|¡Gracias!',
  it: 'Feedback|Come valuti questa pagina?|Dicci di più (facoltativo)|Grazie per il tuo feedback!|Invia|Avanti|Chiudi|Indica un elemento|Elemento selezionato|Fai clic sulla parte della pagina; frecce per spostarti, Invio per scegliere, Esc per annullare|Rispondi a questa domanda|Odio,Non mi piace,Neutrale,Mi piace,Adoro|Poco probabile|Molto probabile|Grazie!',
  nl: 'Feedback|Hoe beoordeelt u deze pagina?|Vertel ons meer (optioneel)|Bedankt voor uw feedback!|Verzenden|Volgende|Sluiten|Een element aanwijzen|Element gekozen|Klik op het deel van de pagina; pijltjes verplaatsen, Enter kiest, Esc annuleert|Beantwoord deze vraag|Haat,Niet leuk,Neutraal,Leuk,Geweldig|Niet waarschijnlijk|Zeer waarschijnlijk|Bedankt!',
  pt: 'Opinião|Como avalia esta página?|Conte-nos mais (opcional)|Obrigado pela sua opinião!|Enviar|Seguinte|Fechar|Apontar um elemento|Elemento selecionado|Clique na parte da página; setas movem, Enter escolhe, Esc cancela|Responda a esta pergunta|Odeio,Não gosto,Neutro,Gosto,Adoro|Pouco provável|Muito provável|Obrigado!',
};

export const LANGUAGES = Object.keys(RAW);

// language picks the language: the configured one when supported, else the first of the
// browser's preferences that is, else English.
export function language(configured: string, prefs: readonly string[]): string {
  for (const l of [configured, ...(configured ? [] : prefs)]) {
    const b = (l || '').toLowerCase().split('-')[0];
    if (RAW[b]) return b;
  }
  return 'en';
}

export function texts(lang: string, own?: Partial<Record<'tab' | 'title' | 'prompt' | 'thanks', string>>): Texts {
  const f = (RAW[lang] || RAW.en).split('|');
  const t: Texts = {
    tab: f[0],
    title: f[1],
    prompt: f[2],
    thanks: f[3],
    send: f[4],
    next: f[5],
    close: f[6],
    point: f[7],
    picked: f[8],
    pickHint: f[9],
    required: f[10],
    faces: f[11].split(','),
    low: f[12],
    high: f[13],
    done: f[14],
  };
  if (own) for (const k of ['tab', 'title', 'prompt', 'thanks'] as const) if (own[k]) t[k] = own[k]!;
  return t;
}
